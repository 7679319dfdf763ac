// AVX-512 micro-kernels for the blocked GEMM of gemm_blocked.h (entered only when active_isa() says
// the CPU has AVX-512F/BW/DQ/VL). 32 zmm registers: a 12 x 2-vector tile keeps 24 accumulators,
// 2 B vectors and 1 broadcast in registers.
#include <immintrin.h>

#include "gemm_blocked.h"

namespace pk::cpu {
namespace {

struct VecF32x16 {
  using T = float;
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static Mask mask(int n) { return static_cast<Mask>((1u << n) - 1u); }
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(T x) { return _mm512_set1_ps(x); }
  static Reg load(const T* p) { return _mm512_loadu_ps(p); }
  static Reg load(const T* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static Reg bcast(const T* p) { return _mm512_set1_ps(*p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static void store(T* p, Reg r) { _mm512_storeu_ps(p, r); }
  static void store(T* p, Reg r, Mask m) { _mm512_mask_storeu_ps(p, m, r); }
};

struct VecF64x8 {
  using T = double;
  using Reg = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static Mask mask(int n) { return static_cast<Mask>((1u << n) - 1u); }
  static Reg zero() { return _mm512_setzero_pd(); }
  static Reg set1(T x) { return _mm512_set1_pd(x); }
  static Reg load(const T* p) { return _mm512_loadu_pd(p); }
  static Reg load(const T* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
  static Reg bcast(const T* p) { return _mm512_set1_pd(*p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_pd(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_pd(a, b); }
  static void store(T* p, Reg r) { _mm512_storeu_pd(p, r); }
  static void store(T* p, Reg r, Mask m) { _mm512_mask_storeu_pd(p, m, r); }
};

// Blocking for a core with 32 KiB L1d and 1 MiB L2 (AMD Zen 4, Intel Skylake-X and later):
// A micro-panel MR x KC in L1, B block KC x NC in L2, A block MC x KC in L3.
struct KernelF32 {
  using V = VecF32x16;
  static constexpr int kMR = 12, kNV = 2;
  static constexpr int64_t kKC = 256, kMC = 2040, kNC = 512;
  static constexpr int64_t kDirectA = 256 << 10, kDirectTransA = 32 << 10, kDirectB = 512 << 10;
  static constexpr double kFlopsPerThread = 1 << 18;
};

struct KernelF64 {
  using V = VecF64x8;
  static constexpr int kMR = 12, kNV = 2;
  static constexpr int64_t kKC = 256, kMC = 2040, kNC = 384;
  static constexpr int64_t kDirectA = 256 << 10, kDirectTransA = 32 << 10, kDirectB = 512 << 10;
  static constexpr double kFlopsPerThread = 1 << 18;
};

}  // namespace

void gemm_avx512(const GemmArgs<float>& g) { gemm_blocked<KernelF32>(g); }
void gemm_avx512(const GemmArgs<double>& g) { gemm_blocked<KernelF64>(g); }

}  // namespace pk::cpu
