#include "gemm.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "common/cpu_features.h"
#include "gemm_blocked.h"

namespace pk::cpu {

namespace {

// Portable vector of W lanes for the build without ISA flags: GCC/Clang vector extensions, which
// the compiler lowers to the baseline SIMD of the target (SSE2 on x86-64, NEON on AArch64).
template <class TT, int W>
struct VecPortable {
  using T = TT;
  typedef T Reg __attribute__((vector_size(W * sizeof(T))));
  using Mask = int;  // number of valid lanes
  static constexpr int kLanes = W;
  static Mask mask(int n) { return n; }
  static Reg set1(T v) { return Reg{} + v; }
  static Reg zero() { return Reg{}; }
  static Reg load(const T* p) {
    Reg r;
    std::memcpy(&r, p, sizeof(Reg));
    return r;
  }
  static Reg load(const T* p, Mask n) {
    Reg r{};
    for (int l = 0; l < n; ++l) r[l] = p[l];
    return r;
  }
  static Reg bcast(const T* p) { return set1(*p); }
  static Reg fma(Reg a, Reg b, Reg c) { return a * b + c; }
  static Reg mul(Reg a, Reg b) { return a * b; }
  static void store(T* p, Reg r) { std::memcpy(p, &r, sizeof(Reg)); }
  static void store(T* p, Reg r, Mask n) {
    for (int l = 0; l < n; ++l) p[l] = r[l];
  }
};

// 16 128-bit registers (SSE2): a 6 x 2-vector tile, as for AVX2.
template <class T>
struct KernelPortable {
  using V = VecPortable<T, 16 / sizeof(T)>;
  static constexpr int kMR = 6, kNV = 2;
  static constexpr int64_t kKC = 256, kMC = 960, kNC = 512;
  static constexpr int64_t kDirectA = 256 << 10, kDirectTransA = 32 << 10, kDirectB = 512 << 10;
  static constexpr double kFlopsPerThread = 1 << 16;
};

}  // namespace

void gemm_generic(const GemmArgs<float>& g) { gemm_blocked<KernelPortable<float>>(g); }
void gemm_generic(const GemmArgs<double>& g) { gemm_blocked<KernelPortable<double>>(g); }

namespace {

// -1: not chosen yet (taken on first use: kAmx where it runs, unless PYKERNELS_SGEMM=fma), else an
// SgemmPath.
std::atomic<int> sgemm_choice{-1};

bool sgemm_path_supported(SgemmPath path) {
  return path == SgemmPath::kFma || (active_isa() == Isa::kAvx512 && gemm_amx_available());
}

}  // namespace

SgemmPath sgemm_path() {
  int p = sgemm_choice.load(std::memory_order_relaxed);
  if (p < 0) {
    const char* env = std::getenv("PYKERNELS_SGEMM");
    const bool fma = env != nullptr && std::strcmp(env, "fma") == 0;
    p = static_cast<int>(!fma && sgemm_path_supported(SgemmPath::kAmx) ? SgemmPath::kAmx : SgemmPath::kFma);
    int expected = -1;
    if (!sgemm_choice.compare_exchange_strong(expected, p, std::memory_order_relaxed)) p = expected;
  }
  // a later set_isa below AVX-512 turns the tiles off too
  if (p == static_cast<int>(SgemmPath::kAmx) && active_isa() != Isa::kAvx512) return SgemmPath::kFma;
  return static_cast<SgemmPath>(p);
}

bool set_sgemm_path(SgemmPath path) {
  if (!sgemm_path_supported(path)) return false;
  sgemm_choice.store(static_cast<int>(path), std::memory_order_relaxed);
  return true;
}

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const GemmArgs<T> g{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
  if constexpr (std::is_same_v<T, float>) {
    // NOTE: measured (AMX / FMA time, 2 threads): 0.63 at 1024^3, 0.69 at 512^3, 0.83 at 2048^3
    // (its B panels take two column blocks a chunk), 0.66 at 1024x512x256, 0.82 at 2048x128x2048,
    // 0.90 at 256x256x512; at the edges packing a big operand for few blocks costs what the tiles
    // save: 1.05 at 64x4096x1024, 0.96 at 128x4096x1024, 1.00 at 1024x4096x64, 1.26 at
    // 4096x64x4096 (two K steps a block), and with the threshold lowered, 0.96 at 256^3, 1.75 at
    // 64x784x128 (the packing and two parallel regions).
    if (sgemm_path() == SgemmPath::kAmx && m >= 128 && n >= 128 && k >= 128 &&
        static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) >= 0x1p25) {
      if (gemm_amx(g, omp_in_parallel() ? 1 : omp_get_max_threads())) return;
    }
  }
  switch (active_isa()) {
    case Isa::kAvx512: gemm_avx512(g); break;
    case Isa::kAvx2: gemm_avx2(g); break;
    default: gemm_generic(g); break;
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace pk::cpu
