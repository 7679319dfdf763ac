// Shared by every CUDA kernel file (cuda/*.cu).  The same sources build two ways:
//  - under nvcc (__CUDACC__): the real CUDA runtime; pykernels._cuda.
//  - under g++ as C++ (-x c++): cuda/sim/simt.h, our SIMT emulator, supplies dim3, threadIdx,
//    blockIdx, blockDim, gridDim, __global__/__device__/__shared__, __syncthreads, atomics, warp
//    intrinsics, the math intrinsics, and host-memory versions of cudaMalloc/cudaFree/cudaMemcpy/
//    cudaMemset/cudaGetLastError; pykernels._cudasim (the "cuda-sim" backend).
//
// Rules the kernel files follow so that both builds run the same code:
//  - Kernels are launched only through pk::cuda::launch (never <<< >>> directly).
//  - Shared memory is static (`__shared__ T tile[kTile][kTile];`, sizes compile-time constants).
//  - Host launchers take device pointers, sizes and strides (64-bit), write their outputs, and report
//    a failure by throwing (PK_CUDA_CHECK); they never exit, abort or print.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

// PK_CUDA_SIM is set by the build (cuda/CMakeLists.txt) for every file of a module: 1 in
// pykernels._cudasim, 0 in pykernels._cuda, whose host-only .cpp files (bindings) are compiled by
// the C++ compiler against <cuda_runtime.h>. Without it: nvcc means the real runtime.
#if !defined(PK_CUDA_SIM)
#if defined(__CUDACC__)
#define PK_CUDA_SIM 0
#else
#define PK_CUDA_SIM 1
#endif
#endif
#if PK_CUDA_SIM
#include "sim/simt.h"
#else
#include <cuda_runtime.h>
#endif

namespace pk::cuda {

// A failed CUDA call becomes a C++ exception (a Python RuntimeError through pybind11).
inline void check(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // reset the thread's last error: the next launch check must not see this one
    throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(err) + " (" + what + " at " + file +
                             ":" + std::to_string(line) + ")");
  }
}

#define PK_CUDA_CHECK(expr) ::pk::cuda::check((expr), #expr, __FILE__, __LINE__)

// The one launch helper: a real <<<grid, block>>> launch under nvcc, the emulator otherwise, with the
// same grid and block either way.
template <class... KernelArgs, class... Args>
void launch(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;  // an empty problem launches nothing
#if PK_CUDA_SIM
  ::pk::sim::launch(kernel, grid, block, std::forward<Args>(args)...);
#elif defined(__CUDACC__)
  kernel<<<grid, block>>>(std::forward<Args>(args)...);
#else
  static_assert(sizeof...(Args) < 0, "kernels are launched from .cu files (compiled by nvcc)");
#endif
  // A bad configuration (e.g. more than 1024 threads per block) fails here, in both builds.
  PK_CUDA_CHECK(cudaGetLastError());
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Device memory owned by one host scope (workspaces of multi-kernel ops).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t count) : count_(count) {
    if (count > 0) PK_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), sizeof(T) * static_cast<size_t>(count)));
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(count_, o.count_);
    return *this;
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  T* get() const { return ptr_; }
  int64_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  int64_t count_ = 0;
};

}  // namespace pk::cuda
