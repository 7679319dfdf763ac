// AVX-512 micro-kernels for the blocked GEMM of gemm_blocked.h (entered only when active_isa() says
// the CPU has AVX-512F/BW/DQ/VL). 32 zmm registers: a 12 x 2-vector tile keeps 24 accumulators,
// 2 B vectors and 1 broadcast in registers. Float32 products with at most 12 columns (and A not
// transposed) take a kernel of their own with vectors along K (see narrow:: below).
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

// ---- narrow products: n <= 12 columns, A rows contiguous in k ---------------------------------------
//
// With vectors along N, a product like 128x64x10 (a 10-class output layer) fills 10 of 16 lanes and
// issues one broadcast of A per FMA, so the micro-kernel is bound by the load ports. Here vectors run
// along K instead: lane 8 * jj + kk of an accumulator holds the partial sum over k = 8 s + kk of
// A(i, k) B(k, 2 g + jj), one accumulator per row i and column pair g. Each 8-step of k takes one
// 256-bit broadcast of A's row, B's 8 x 2 block from a packed copy of B (transposed in blocks of
// 8 k), and one FMA per row and column pair: every lane useful for even n, no per-element
// broadcasts. The 8 partial sums of each output are added at the end, 16 outputs at a time, by 3
// rounds of shuffles. Each output's sum is formed the same way wherever its row falls.
// NOTE: measured against the blocked kernel: see narrow_gemm_wins.
namespace narrow {

constexpr int kMaxN = 12;

// bt[(s * np + j) * 8 + kk] = B(8 s + kk, j), zero past k and for j == n (np: n rounded up to even),
// so that the 16 floats at bt + (s * np + 2 q) * 8 are the kernel's B vector for step s, pair q.
void pack_bt(const GemmArgs<float>& g, int64_t steps, int np, float* bt) {
  const int64_t full = g.k >> 3;
  const __mmask8 tail = static_cast<__mmask8>((1u << (g.k & 7)) - 1u);
  if (g.trans_b) {  // B(p, j) = b[j * ldb + p]: 8 consecutive k of a column are contiguous
    for (int64_t s = 0; s < steps; ++s) {
      const __mmask8 mk = s < full ? __mmask8{0xFF} : tail;
      for (int j = 0; j < np; ++j) {
        const __m256 v = j < g.n ? _mm256_maskz_loadu_ps(mk, g.b + j * g.ldb + s * 8) : _mm256_setzero_ps();
        _mm256_store_ps(bt + (s * np + j) * 8, v);
      }
    }
    return;
  }
  // B(p, j) = b[p * ldb + j]: gather the column pair (2q, 2q + 1) of 8 rows as 8 64-bit pairs (lane
  // 2 kk + jj), then put the lanes in the kernel's order 8 jj + kk
  const __m512i rows = _mm512_mullo_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7),
                                          _mm512_set1_epi64(g.ldb * static_cast<int64_t>(sizeof(float))));
  const __m512i order = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  const int64_t pairs = g.n >> 1;
  for (int64_t s = 0; s < steps; ++s) {
    const __mmask8 mk = s < full ? __mmask8{0xFF} : tail;
    const float* row = g.b + s * 8 * g.ldb;
    float* dst = bt + s * np * 8;
    for (int64_t q = 0; q < pairs; ++q) {
      const __m512d v = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), mk, rows, row + 2 * q, 1);
      _mm512_store_ps(dst + q * 16, _mm512_permutexvar_ps(order, _mm512_castpd_ps(v)));
    }
    if (g.n & 1) {  // the last column alone (its pair's second column is past B's row)
      const __m256 v = _mm512_mask_i64gather_ps(_mm256_setzero_ps(), mk, rows, row + g.n - 1, 1);
      _mm512_store_ps(dst + pairs * 16, _mm512_insertf32x8(_mm512_setzero_ps(), v, 0));
    }
  }
}

// 8 accumulators (each the 2 x 8 partial sums of one row and column pair) -> 16 sums in the order
// of the accumulators (output 2 t + jj of accumulator t).
inline __m512 reduce8(const __m512 x[8]) {
  __m512 z[4], u[2];
  // 128-bit quarter q of z[p]: the 4 partial sums of output q of accumulators 2p, 2p+1
  for (int p = 0; p < 4; ++p)
    z[p] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * p], x[2 * p + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(x[2 * p], x[2 * p + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  // within each quarter: 2 partial sums each of z[2p]'s output and z[2p + 1]'s
  for (int p = 0; p < 2; ++p)
    u[p] = _mm512_add_ps(_mm512_shuffle_ps(z[2 * p], z[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(z[2 * p], z[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // lane 4 q + r holds z[r]'s quarter-q output, which is output 4 r + q: transpose the 4 x 4
  const __m512 w = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_ps(order, w);
}

// Rows [i0, i1) of C with G = np / 2 column pairs, R rows at a time (a last partial block repeats
// its last row and does not store it).
template <int G, int R>
void rows(const GemmArgs<float>& g, const float* bt, int64_t i0, int64_t i1) {
  constexpr int kAcc = R * G;
  constexpr int kGroups = (kAcc + 7) / 8;
  const int64_t full = g.k >> 3;
  const int tail = static_cast<int>(g.k & 7);
  const __mmask8 kmask = static_cast<__mmask8>((1u << tail) - 1u);
  const __mmask16 nmask = VecF32x16::mask(static_cast<int>(g.n));
  const __m512 va = _mm512_set1_ps(g.alpha), vb = _mm512_set1_ps(g.beta);
  alignas(64) float out[kGroups * 16];
  for (int64_t i = i0; i < i1; i += R) {
    const float* ar[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) ar[r] = g.a + std::min<int64_t>(i + r, i1 - 1) * g.lda;
    __m512 acc[kGroups * 8];
#pragma GCC unroll 32
    for (int t = 0; t < kGroups * 8; ++t) acc[t] = _mm512_setzero_ps();
    const float* bp = bt;
    for (int64_t s = 0; s < full; ++s, bp += G * 16) {
      __m512 b[G];
#pragma GCC unroll 8
      for (int q = 0; q < G; ++q) b[q] = _mm512_load_ps(bp + q * 16);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 a = _mm512_broadcast_f32x8(_mm256_loadu_ps(ar[r] + s * 8));
#pragma GCC unroll 8
        for (int q = 0; q < G; ++q) acc[r * G + q] = _mm512_fmadd_ps(a, b[q], acc[r * G + q]);
      }
    }
    if (tail) {
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const __m512 a = _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(kmask, ar[r] + full * 8));
#pragma GCC unroll 8
        for (int q = 0; q < G; ++q)
          acc[r * G + q] = _mm512_fmadd_ps(a, _mm512_load_ps(bp + q * 16), acc[r * G + q]);
      }
    }
#pragma GCC unroll 4
    for (int t = 0; t < kGroups; ++t) _mm512_store_ps(out + 16 * t, reduce8(acc + 8 * t));
    const int rows_here = static_cast<int>(std::min<int64_t>(R, i1 - i));
    for (int r = 0; r < rows_here; ++r) {
      float* c = g.c + (i + r) * g.ldc;
      __m512 v = _mm512_mul_ps(va, _mm512_maskz_loadu_ps(nmask, out + r * 2 * G));
      if (g.beta != 0.0f) v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(nmask, c), v);
      _mm512_mask_storeu_ps(c, nmask, v);
    }
  }
}

using RowsFn = void (*)(const GemmArgs<float>&, const float*, int64_t, int64_t);

// R rows a block: enough accumulators to cover the FMA latency, all of them, the G B vectors and
// the broadcast in the 32 registers.
constexpr RowsFn kRows[kMaxN / 2] = {rows<1, 8>, rows<2, 8>, rows<3, 8>, rows<4, 6>, rows<5, 4>, rows<6, 4>};

}  // namespace narrow

// Whether the narrow kernel takes this product.
// NOTE: measured (pk.gemm, medians, us, narrow against the blocked kernel): 128x64x10 1.8-2.0 against
// 2.5-2.7, 128x64xn 1.0 against 2.3 (n = 1, 2), 1.5 against 2.5 (n = 6), 2.1 against 2.4 (n = 12);
// 1000x784x10 51 against 169, 10000x64x10 61 against 127, 512x4096x10 187 against 504, 64x4096x12
// 28 against 53 (2 threads). For m < 8 or k < 16 the blocked kernel is as fast; for n >= 13 its
// vectors are full enough. k is bounded so that each thread's copy of B stays within L2 (384 KB).
bool narrow_gemm_wins(const GemmArgs<float>& g) {
  return narrow_takes(g, narrow::kMaxN);
}

void narrow_gemm(const GemmArgs<float>& g) {
  const int np = static_cast<int>((g.n + 1) & ~int64_t{1});
  const int64_t steps = (g.k + 7) >> 3;
  // (steps * np * 8: a multiple of 16 floats)
  run_narrow<KernelF32>(
      g, steps * np * 8, [&](const GemmArgs<float>& a, float* bt) { narrow::pack_bt(a, steps, np, bt); },
      narrow::kRows[np / 2 - 1]);
}

}  // namespace

void gemm_avx512(const GemmArgs<float>& g) {
  if (narrow_gemm_wins(g)) {
    narrow_gemm(g);
    return;
  }
  gemm_blocked<KernelF32>(g);
}
void gemm_avx512(const GemmArgs<double>& g) { gemm_blocked<KernelF64>(g); }

}  // namespace pk::cpu
