#include "gemm.h"

#include <cstring>

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

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const GemmArgs<T> g{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
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
