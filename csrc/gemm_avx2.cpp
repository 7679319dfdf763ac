// AVX2 + FMA micro-kernels for the blocked GEMM of gemm_blocked.h (entered only when active_isa()
// says the CPU has them). 16 ymm registers: a 6 x 2-vector tile keeps 12 accumulators, 2 B vectors
// and 1 broadcast in registers. Float32 products with at most 12 columns (and A not transposed)
// take a kernel of their own with vectors along K (see narrow:: below).
#include <immintrin.h>

#include <cmath>

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

// ---- narrow products: n <= 12 columns, A rows contiguous in k ---------------------------------------
//
// As gemm_avx512.cpp's narrow:: kernel, with 8-lane vectors: with vectors along N a 10-column
// product fills 10 of 16 lanes and broadcasts one element of A per 2 FMAs; here vectors run along K.
// Accumulator (r, j) holds in lane kk the partial sum over k = 8 s + kk of A(i + r, k) B(k, j); each
// 8-step of k takes one load of each of R rows of A, one load of each column's 8 k from a packed copy
// of B, and R x N FMAs, every lane useful. The 8 partial sums of each output are added at the end,
// 8 outputs at a time, by 3 rounds of horizontal adds. Each output's sum is formed the same way
// wherever its row falls.
namespace narrow {

constexpr int kMaxN = 12;

// bt[(s * n + j) * 8 + kk] = B(8 s + kk, j), zero past k.
void pack_bt(const GemmArgs<float>& g, int64_t steps, float* bt) {
  const int64_t n = g.n;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t kk_end = std::min<int64_t>(8, g.k - 8 * s);
    float* dst = bt + s * n * 8;
    for (int64_t j = 0; j < n; ++j) {
      float* d = dst + j * 8;
      for (int64_t kk = 0; kk < kk_end; ++kk) {
        const int64_t p = 8 * s + kk;
        d[kk] = g.trans_b ? g.b[j * g.ldb + p] : g.b[p * g.ldb + j];
      }
      for (int64_t kk = kk_end; kk < 8; ++kk) d[kk] = 0.0f;
    }
  }
}

// The sums of the 8 lanes of x[0] .. x[7], in that order.
inline __m256 reduce8(const __m256 x[8]) {
  const __m256 t0 = _mm256_hadd_ps(x[0], x[1]), t1 = _mm256_hadd_ps(x[2], x[3]);
  const __m256 t2 = _mm256_hadd_ps(x[4], x[5]), t3 = _mm256_hadd_ps(x[6], x[7]);
  // u0: the 4-lane sums of x[0..3] in the low half, of their high 4 lanes in the high half
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// The sums of the 8 lanes of x[0] .. x[3], in that order.
inline __m128 reduce4(const __m256 x[4]) {
  const __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(x[0], x[1]), _mm256_hadd_ps(x[2], x[3]));
  return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

// Rows [i0, i1) of C (N columns), R rows at a time (a last partial block repeats its last row and
// does not store it).
template <int N, int R>
void rows(const GemmArgs<float>& g, const float* bt, int64_t i0, int64_t i1) {
  constexpr int kGroups = (N + 7) / 8;
  constexpr int kLast = N - 8 * (kGroups - 1);  // columns of the last group of 8
  const int64_t full = g.k >> 3;
  const int tail = static_cast<int>(g.k & 7);
  const __m256i kmask = lane_mask32(tail);
  const __m256 va = _mm256_set1_ps(g.alpha), vb = _mm256_set1_ps(g.beta);
  for (int64_t i = i0; i < i1; i += R) {
    const float* ar[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) ar[r] = g.a + std::min<int64_t>(i + r, i1 - 1) * g.lda;
    __m256 acc[R][kGroups * 8];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < kGroups * 8; ++j) acc[r][j] = _mm256_setzero_ps();
    const float* bp = bt;
    for (int64_t s = 0; s < full; ++s, bp += N * 8) {
      __m256 a[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r] = _mm256_loadu_ps(ar[r] + s * 8);
#pragma GCC unroll 16
      for (int j = 0; j < N; ++j) {
        const __m256 b = _mm256_load_ps(bp + j * 8);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) acc[r][j] = _mm256_fmadd_ps(a[r], b, acc[r][j]);
      }
    }
    if (tail) {
      __m256 a[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) a[r] = _mm256_maskload_ps(ar[r] + full * 8, kmask);
#pragma GCC unroll 16
      for (int j = 0; j < N; ++j) {
        const __m256 b = _mm256_load_ps(bp + j * 8);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) acc[r][j] = _mm256_fmadd_ps(a[r], b, acc[r][j]);
      }
    }
    const int rows_here = static_cast<int>(std::min<int64_t>(R, i1 - i));
    for (int r = 0; r < rows_here; ++r) {
      float* c = g.c + (i + r) * g.ldc;
#pragma GCC unroll 2
      for (int q = 0; q < kGroups; ++q) {
        const int cols = q < kGroups - 1 ? 8 : kLast;
        float* cq = c + 8 * q;
        alignas(32) float t[8];
        if (cols == 8) {  // (no masked store: microcoded on AMD Zen)
          __m256 v = _mm256_mul_ps(va, reduce8(acc[r] + 8 * q));
          if (g.beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cq), v);
          _mm256_storeu_ps(cq, v);
          continue;
        }
        if (cols <= 4) {
          _mm_store_ps(t, _mm_mul_ps(_mm256_castps256_ps128(va), reduce4(acc[r] + 8 * q)));
        } else {
          _mm256_store_ps(t, _mm256_mul_ps(va, reduce8(acc[r] + 8 * q)));
        }
        for (int j = 0; j < cols; ++j) cq[j] = g.beta != 0.0f ? std::fma(g.beta, cq[j], t[j]) : t[j];
      }
    }
  }
}

using RowsFn = void (*)(const GemmArgs<float>&, const float*, int64_t, int64_t);

// R rows a block: R x N accumulators, R rows of A and one B vector within the 16 registers, and
// at least 7 accumulators to cover the FMA latency.
constexpr RowsFn kRows[kMaxN] = {rows<1, 8>, rows<2, 5>, rows<3, 3>, rows<4, 3>, rows<5, 2>, rows<6, 2>,
                                 rows<7, 1>, rows<8, 1>, rows<9, 1>, rows<10, 1>, rows<11, 1>, rows<12, 1>};

}  // namespace narrow

// Whether the narrow kernel takes this product: the AVX-512 kernel's rule.
// NOTE: measured on a Zen 3 (pk.gemm, minimums, us, narrow against the blocked kernel, one thread):
// 128x64x10 5.9 against 7.3, 128x64x1 2.4 against 4.7, 128x64x6 5.9 against 7.1, 128x64x12 6.5-7.1
// against 6.5-6.8, 128x256x10 16.0 against 19.0, 128x1024x10 84 against 128, 1000x784x10 186
// against 389 and 10000x64x10 170 against 343 (two threads).
bool narrow_gemm_wins(const GemmArgs<float>& g) {
  return narrow_takes(g, narrow::kMaxN);
}

void narrow_gemm(const GemmArgs<float>& g) {
  const int64_t steps = (g.k + 7) >> 3;
  run_narrow<KernelF32>(
      g, (steps * g.n * 8 + 15) / 16 * 16, [&](const GemmArgs<float>& a, float* bt) { narrow::pack_bt(a, steps, bt); },
      narrow::kRows[g.n - 1]);
}

}  // namespace

void gemm_avx2(const GemmArgs<float>& g) {
  if (narrow_gemm_wins(g)) {
    narrow_gemm(g);
    return;
  }
  gemm_blocked<KernelF32>(g);
}
void gemm_avx2(const GemmArgs<double>& g) { gemm_blocked<KernelF64>(g); }

}  // namespace pk::cpu
