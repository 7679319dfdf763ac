// AVX2 + FMA micro-kernels for the blocked GEMM of gemm_blocked.h (entered only when active_isa()
// says the CPU has them). 16 ymm registers: a 6 x 2-vector tile keeps 12 accumulators, 2 B vectors
// and 1 broadcast in registers.
#include <immintrin.h>

#include "gemm_blocked.h"

namespace pk::cpu {
namespace {

// Lane masks for maskload/maskstore: lanes [0, n) have the sign bit set.
inline __m256i lane_mask32(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256i lane_mask64(int n) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

struct VecF32x8 {
  using T = float;
  using Reg = __m256;
  using Mask = __m256i;
  static constexpr int kLanes = 8;
  static Mask mask(int n) { return lane_mask32(n); }
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(T x) { return _mm256_set1_ps(x); }
  static Reg load(const T* p) { return _mm256_loadu_ps(p); }
  static Reg load(const T* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static Reg bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static void store(T* p, Reg r) { _mm256_storeu_ps(p, r); }
  static void store(T* p, Reg r, Mask m) { _mm256_maskstore_ps(p, m, r); }
};

struct VecF64x4 {
  using T = double;
  using Reg = __m256d;
  using Mask = __m256i;
  static constexpr int kLanes = 4;
  static Mask mask(int n) { return lane_mask64(n); }
  static Reg zero() { return _mm256_setzero_pd(); }
  static Reg set1(T x) { return _mm256_set1_pd(x); }
  static Reg load(const T* p) { return _mm256_loadu_pd(p); }
  static Reg load(const T* p, Mask m) { return _mm256_maskload_pd(p, m); }
  static Reg bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_pd(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  static void store(T* p, Reg r) { _mm256_storeu_pd(p, r); }
  static void store(T* p, Reg r, Mask m) { _mm256_maskstore_pd(p, m, r); }
};

// The GotoBLAS order (gemm_serial_goto), blocked for 32 KiB L1d and 512 KiB L2 (AMD Zen 2/3, Intel
// Haswell to Comet Lake: 256 KiB - 1 MiB): the B micro-panel KC x NR (16 KiB) in L1, the A block
// MC x KC (144 KiB) in L2, the B block KC x NC (3 MiB) in L3.
// NOTE: measured on a Zen 3 (512 KiB L2), 1024^3 on two threads: 5-13% faster than the order with
// the B block in L2 (which holds a 512 KiB block there and no room for anything else), 4-15% on
// 64x784x128, 100x150x200, 256^3, 512^3; MC 72-240 within the noise.
struct KernelF32 {
  using V = VecF32x8;
  static constexpr bool kGotoOrder = true;
  static constexpr int kMR = 6, kNV = 2;
  static constexpr int64_t kKC = 256, kMC = 144, kNC = 3072;
  static constexpr int64_t kDirectA = 256 << 10, kDirectTransA = 32 << 10, kDirectB = 512 << 10;
  static constexpr double kFlopsPerThread = 1 << 18;
};

struct KernelF64 {
  using V = VecF64x4;
  static constexpr bool kGotoOrder = true;
  static constexpr int kMR = 6, kNV = 2;
  static constexpr int64_t kKC = 256, kMC = 96, kNC = 2048;
  static constexpr int64_t kDirectA = 256 << 10, kDirectTransA = 32 << 10, kDirectB = 512 << 10;
  static constexpr double kFlopsPerThread = 1 << 18;
};

}  // namespace

void gemm_avx2(const GemmArgs<float>& g) { gemm_blocked<KernelF32>(g); }
void gemm_avx2(const GemmArgs<double>& g) { gemm_blocked<KernelF64>(g); }

}  // namespace pk::cpu
