// SIMT emulation of the CUDA programming model on the CPU, for the "cuda-sim" backend.
//
// cuda/common.cuh includes this header instead of <cuda_runtime.h> when a kernel file is compiled
// by g++ as C++. Execution model (the point is to reproduce what can go wrong on a GPU):
//  - A launch runs the grid's blocks one after another on an OS thread; blocks are spread over
//    OpenMP threads. A block runs to completion on one OS thread.
//  - Every CUDA thread of a block is a user-level fiber with its own stack. __syncthreads() parks
//    the fiber; once every thread of the block has arrived, the scheduler resumes all of them, in
//    REVERSE thread order, so a missing barrier or a race on shared memory changes the result.
//  - Warp intrinsics (__shfl_*_sync, __ballot_sync, __any_sync, __all_sync, __syncwarp) are a
//    rendezvous of the (up to) 32 threads of a warp with a per-warp exchange buffer.
//  - __shared__ is `static thread_local`: one copy per OS thread, i.e. per running block.
//  - Device memory is host memory; cudaMalloc/cudaMemcpy/... are host-memory versions with the
//    runtime's error codes; a bad launch configuration sets cudaErrorInvalidConfiguration.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

// ---- CUDA keywords -------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __restrict__ __restrict
#define __shared__ static thread_local
#define __constant__ static
#define __launch_bounds__(...)

// ---- Built-in vector types and indices -----------------------------------------------------------
struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

namespace pk::sim {
// Set by the block scheduler before it resumes a fiber (plain data: no TLS init wrappers).
// NOTE: not initial-exec TLS: the module's whole TLS block (with every kernel's __shared__ arrays)
// would then have to fit glibc's small static TLS surplus, and dlopen would fail.
extern thread_local uint3 t_thread_idx;
extern thread_local uint3 t_block_idx;
extern thread_local uint3 t_block_dim;
extern thread_local uint3 t_grid_dim;
}  // namespace pk::sim

#define threadIdx (::pk::sim::t_thread_idx)
#define blockIdx (::pk::sim::t_block_idx)
#define blockDim (::pk::sim::t_block_dim)
#define gridDim (::pk::sim::t_grid_dim)
constexpr int warpSize = 32;

// ---- Runtime API on host memory ------------------------------------------------------------------
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719,
};
typedef cudaError_t cudaError;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

cudaError_t cudaMalloc(void** ptr, size_t bytes);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t err);

// ---- Barriers and warp intrinsics ----------------------------------------------------------------
namespace pk::sim {

// Parks the calling fiber until every thread of its block has arrived.
void block_barrier();
// Rendezvous of the calling thread's warp: publishes `value` (64 bits) as this lane's, and returns
// once every lane of the warp has published; then lane_value(l) reads lane l's value.
void warp_exchange(uint64_t value);
uint64_t lane_value(int lane);
int lane_id();
int warp_lanes();  // lanes of the calling thread's warp (32 except in a block's last partial warp)

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp exchange of an 8-byte scalar at most");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

// Source lane inside the segment of `width` lanes; out-of-range sources return the own value (CUDA).
template <class T>
inline T shfl_from(T v, int src, int width) {
  warp_exchange(to_bits(v));
  const int lane = lane_id();
  const int base = lane & ~(width - 1);
  if (src < base || src >= base + width || src >= warp_lanes()) return v;
  return from_bits<T>(lane_value(src));
}

}  // namespace pk::sim

inline void __syncthreads() { ::pk::sim::block_barrier(); }
inline void __syncwarp(unsigned /*mask*/ = 0xffffffffu) { ::pk::sim::warp_exchange(0); }

template <class T>
inline T __shfl_sync(unsigned /*mask*/, T v, int src_lane, int width = warpSize) {
  const int lane = ::pk::sim::lane_id();
  return ::pk::sim::shfl_from(v, (lane & ~(width - 1)) + (src_lane & (width - 1)), width);
}
template <class T>
inline T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask, int width = warpSize) {
  return ::pk::sim::shfl_from(v, ::pk::sim::lane_id() ^ lane_mask, width);
}
template <class T>
inline T __shfl_down_sync(unsigned /*mask*/, T v, unsigned delta, int width = warpSize) {
  return ::pk::sim::shfl_from(v, ::pk::sim::lane_id() + static_cast<int>(delta), width);
}
template <class T>
inline T __shfl_up_sync(unsigned /*mask*/, T v, unsigned delta, int width = warpSize) {
  const int lane = ::pk::sim::lane_id();
  const int src = lane - static_cast<int>(delta);
  return ::pk::sim::shfl_from(v, src < (lane & ~(width - 1)) ? lane : src, width);
}
inline unsigned __ballot_sync(unsigned /*mask*/, int predicate) {
  ::pk::sim::warp_exchange(predicate != 0);
  unsigned bits = 0;
  for (int l = 0; l < ::pk::sim::warp_lanes(); ++l) bits |= static_cast<unsigned>(::pk::sim::lane_value(l) != 0) << l;
  return bits;
}
inline int __any_sync(unsigned mask, int predicate) { return __ballot_sync(mask, predicate) != 0; }
inline int __all_sync(unsigned mask, int predicate) {
  const int lanes = ::pk::sim::warp_lanes();
  const unsigned full = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1u);
  return __ballot_sync(mask, predicate) == full;
}

// ---- Atomics (blocks run on several OS threads: real atomic read-modify-writes) ------------------
template <class T>
inline T pk_sim_atomic_cas_loop_add(T* addr, T val) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  Bits* p = reinterpret_cast<Bits*>(addr);
  Bits old_bits = __atomic_load_n(p, __ATOMIC_RELAXED);
  for (;;) {
    T old_val;
    std::memcpy(&old_val, &old_bits, sizeof(T));
    const T new_val = old_val + val;
    Bits new_bits;
    std::memcpy(&new_bits, &new_val, sizeof(T));
    if (__atomic_compare_exchange_n(p, &old_bits, new_bits, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return old_val;
  }
}
inline float atomicAdd(float* addr, float val) { return pk_sim_atomic_cas_loop_add(addr, val); }
inline double atomicAdd(double* addr, double val) { return pk_sim_atomic_cas_loop_add(addr, val); }
inline int atomicAdd(int* addr, int val) { return __atomic_fetch_add(addr, val, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* addr, unsigned val) { return __atomic_fetch_add(addr, val, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* addr, unsigned long long val) {
  return __atomic_fetch_add(addr, val, __ATOMIC_RELAXED);
}
inline int atomicSub(int* addr, int val) { return __atomic_fetch_sub(addr, val, __ATOMIC_RELAXED); }
inline int atomicExch(int* addr, int val) { return __atomic_exchange_n(addr, val, __ATOMIC_RELAXED); }
inline int atomicCAS(int* addr, int compare, int val) {
  __atomic_compare_exchange_n(addr, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;
}
inline unsigned atomicCAS(unsigned* addr, unsigned compare, unsigned val) {
  __atomic_compare_exchange_n(addr, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;
}
inline unsigned long long atomicCAS(unsigned long long* addr, unsigned long long compare, unsigned long long val) {
  __atomic_compare_exchange_n(addr, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;
}
template <class T>
inline T pk_sim_atomic_max(T* addr, T val) {
  T old = __atomic_load_n(addr, __ATOMIC_RELAXED);
  while (old < val && !__atomic_compare_exchange_n(addr, &old, val, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T>
inline T pk_sim_atomic_min(T* addr, T val) {
  T old = __atomic_load_n(addr, __ATOMIC_RELAXED);
  while (old > val && !__atomic_compare_exchange_n(addr, &old, val, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline int atomicMax(int* addr, int val) { return pk_sim_atomic_max(addr, val); }
inline unsigned atomicMax(unsigned* addr, unsigned val) { return pk_sim_atomic_max(addr, val); }
inline int atomicMin(int* addr, int val) { return pk_sim_atomic_min(addr, val); }
inline unsigned atomicMin(unsigned* addr, unsigned val) { return pk_sim_atomic_min(addr, val); }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// ---- Math intrinsics (device-only spellings; the plain C math functions come from <cmath>) -------
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
template <class T>
inline T __ldg(const T* p) { return *p; }

// ---- Launch --------------------------------------------------------------------------------------
namespace pk::sim {

// Runs the grid: `body(ctx)` is one CUDA thread's work (the indices are already set). Returns the
// error of the launch (invalid configuration, a barrier not reached by every thread, ...), which
// also becomes the calling host thread's last error (cudaGetLastError).
using ThreadBody = void (*)(void* ctx);
cudaError_t run_grid(dim3 grid, dim3 block, ThreadBody body, void* ctx);

// Statistics of the calling OS thread's launches (test hooks: fiber switches, barrier releases).
struct Counters {
  uint64_t launches, blocks, switches, barriers;
};
Counters counters();

template <class Kernel, class Tuple, size_t... I>
inline void invoke(Kernel kernel, Tuple& args, std::index_sequence<I...>) {
  // Kernel parameters are by value: each thread gets its own copy, as on the device.
  kernel(std::get<I>(args)...);
}

template <class... KernelArgs, class... Args>
void launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, Args&&... args) {
  struct Ctx {
    void (*kernel)(KernelArgs...);
    std::tuple<std::decay_t<KernelArgs>...> args;
  } ctx{kernel, std::tuple<std::decay_t<KernelArgs>...>(std::forward<Args>(args)...)};
  run_grid(grid, block,
           [](void* p) {
             Ctx& c = *static_cast<Ctx*>(p);
             invoke(c.kernel, c.args, std::index_sequence_for<KernelArgs...>{});
           },
           &ctx);
}

}  // namespace pk::sim
