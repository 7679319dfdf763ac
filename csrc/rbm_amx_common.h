// AMX-BF16 pieces shared by the RBM's tile kernels (rbm_amx.cpp: the visible draw of rbm_gibbs /
// rbm_cd; rbm_epoch_amx.cpp: the training epoch of nn.RBM.fit).  Include only from *_amx.cpp files
// (AVX-512 and AMX enabled); internal linkage.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/amx_tiles.h"
#include "rbm_avx512_math.h"

namespace pk::cpu {
namespace {

// bf16 bits (in the high half, low half 0) of x rounded to nearest even; x finite.
inline __m512i round_bf16(__m512i bits) {
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), odd);
  return _mm512_and_si512(r, _mm512_set1_epi32(static_cast<int>(0xffff0000u)));
}

// The bf16 parts hi and lo of 16 weights (hi = x rounded, lo = x - hi rounded, so that
// |x - hi - lo| <= 2^-17 |x|), as bf16 bits in the high halves.
inline void split_bf16(__m512 x, __m512i* hi, __m512i* lo) {
  *hi = round_bf16(_mm512_castps_si512(x));
  *lo = round_bf16(_mm512_castps_si512(_mm512_sub_ps(x, _mm512_castsi512_ps(*hi))));
}

// C tiles of row tiles g0 .. g0 + G - 1 (G <= 4; tmm0 .. G-1) and column tile nt0 = sum over the kb K
// blocks of each row tile's A (tmm4) times the column tile's hi and lo B tiles (tmm5, tmm6).  The two
// B tiles of a K block are loaded once for all G row tiles.
template <int G>
void tile_column(const uint16_t* a, int64_t a_tile, int64_t a_stride, const uint16_t* hi, const uint16_t* lo,
                 int64_t kb, int64_t nt, int64_t nt0, float* c, int64_t c_tile, int64_t c_stride) {
  _tile_zero(0);
  if constexpr (G > 1) _tile_zero(1);
  if constexpr (G > 2) _tile_zero(2);
  if constexpr (G > 3) _tile_zero(3);
  for (int64_t k = 0; k < kb; ++k) {
    _tile_loadd(5, hi + (k * nt + nt0) * 512, 64);
    _tile_loadd(6, lo + (k * nt + nt0) * 512, 64);
    _tile_loadd(4, a + 32 * k, a_stride);
    _tile_dpbf16ps(0, 4, 5);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (G > 1) {
      _tile_loadd(4, a + a_tile + 32 * k, a_stride);
      _tile_dpbf16ps(1, 4, 5);
      _tile_dpbf16ps(1, 4, 6);
    }
    if constexpr (G > 2) {
      _tile_loadd(4, a + 2 * a_tile + 32 * k, a_stride);
      _tile_dpbf16ps(2, 4, 5);
      _tile_dpbf16ps(2, 4, 6);
    }
    if constexpr (G > 3) {
      _tile_loadd(4, a + 3 * a_tile + 32 * k, a_stride);
      _tile_dpbf16ps(3, 4, 5);
      _tile_dpbf16ps(3, 4, 6);
    }
  }
  _tile_stored(0, c + 16 * nt0, c_stride);
  if constexpr (G > 1) _tile_stored(1, c + c_tile + 16 * nt0, c_stride);
  if constexpr (G > 2) _tile_stored(2, c + 2 * c_tile + 16 * nt0, c_stride);
  if constexpr (G > 3) _tile_stored(3, c + 3 * c_tile + 16 * nt0, c_stride);
}

// tile_column over row tiles 0 .. ntiles - 1, four at a time.
inline void tile_columns(const uint16_t* a, int64_t a_tile, int64_t a_stride, int64_t ntiles, const uint16_t* hi,
                         const uint16_t* lo, int64_t kb, int64_t nt, int64_t nt0, float* c, int64_t c_tile,
                         int64_t c_stride) {
  for (int64_t g = 0; g < ntiles; g += 4) {
    const uint16_t* ag = a + g * a_tile;
    float* cg = c + g * c_tile;
    switch (std::min<int64_t>(4, ntiles - g)) {
      case 4: tile_column<4>(ag, a_tile, a_stride, hi, lo, kb, nt, nt0, cg, c_tile, c_stride); break;
      case 3: tile_column<3>(ag, a_tile, a_stride, hi, lo, kb, nt, nt0, cg, c_tile, c_stride); break;
      case 2: tile_column<2>(ag, a_tile, a_stride, hi, lo, kb, nt, nt0, cg, c_tile, c_stride); break;
      default: tile_column<1>(ag, a_tile, a_stride, hi, lo, kb, nt, nt0, cg, c_tile, c_stride); break;
    }
  }
}

// The bound on |tile product - exact sum| of a visible unit whose column of w (nh weights) has
// sum of |w| `colsum`; infinity (every draw left to the exact sum) when no bound holds (NaN,
// infinities, column sums of 1e30 or more).
// Why: |tile product - exact sum| <= g * S with S = sum over the selected rows of |w| <= the column
// sum of |w|: each of the at most 2 * 32 kb + nh additions (tile product, exact sum) rounds once
// (2^-24 each, times 1.01 for the products' (1 + 2^-8) |w| and second-order terms), plus the
// split's remainder 2^-17 |w| (taken as 2^-16); the column sums, in float and in any order, are
// raised by nh * 2^-23 to bound their own rounding, and 1e-30 covers the tiles' flushed subnormals.
inline float column_bound(float colsum, int64_t nh) {
  if (!(colsum < 1e30f)) return __builtin_inff();
  const double kb = static_cast<double>((nh + 31) / 32);
  const double g = (2.0 * 32.0 * kb + static_cast<double>(nh) + 4.0) * 0x1p-24 * 1.01 + 0x1p-16;
  const double raise = 1.0 + static_cast<double>(nh) * 0x1p-23;
  return static_cast<float>(static_cast<double>(colsum) * raise * g * (1.0 + 0x1p-18)) + 1e-30f;
}

// 1 / (1 + e^-x) within 2^-13 relative, plus 2^-126 absolute where e^-|x| is subnormal or 0 (NaN for
// NaN): e^-|x| = 2^n 2^f, f = z - n in [-1/2, 1/2] (exact), z = -|x| log2(e) rounded (|z| <= 150:
// at most 2 150 2^-24 off from the constant's and the product's rounding, 1.3e-5 relative in e),
// 2^f by its degree-5 Taylor polynomial (remainder at most (ln(2) / 2)^6 / 720 2^(1/2) = 3.4e-6,
// 4.8e-6 relative as 2^f >= 2^(-1/2)), the quotient by rcp14 (2^-14): at most 2 (1.3e-5 + 4.8e-6
// + 2^-21) + 2^-14 + 2^-23 = 9.8e-5 < 2^-13. (Checked on a grid: tests/test_rbm.py.)
inline __m512 sigmoid_coarse16(__m512 x) {
  const __m512 z = _mm512_max_ps(_mm512_set1_ps(-150.0f), _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(-1.44269504f)));
  const __m512 n = _mm512_roundscale_ps(z, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(z, n);
  __m512 t = _mm512_set1_ps(1.3333558146e-3f);                     // ln(2)^5 / 120
  t = _mm512_fmadd_ps(t, f, _mm512_set1_ps(9.6181291076e-3f));    // ln(2)^4 / 24
  t = _mm512_fmadd_ps(t, f, _mm512_set1_ps(5.5504108665e-2f));    // ln(2)^3 / 6
  t = _mm512_fmadd_ps(t, f, _mm512_set1_ps(2.4022650696e-1f));    // ln(2)^2 / 2
  t = _mm512_fmadd_ps(t, f, _mm512_set1_ps(6.9314718056e-1f));    // ln(2)
  t = _mm512_fmadd_ps(t, f, _mm512_set1_ps(1.0f));
  const __m512 e = _mm512_scalef_ps(t, n);
  const __m512 inv = _mm512_rcp14_ps(_mm512_add_ps(e, _mm512_set1_ps(1.0f)));
  return _mm512_mask_mul_ps(inv, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), e, inv);
}

// The draws of 16 visible units (lanes `in`) that the tile product `ap` (error at most `bnd`)
// settles: returns the units surely on and sets *open to those it leaves to the exact sum.
// Why: x' = fl(a' + b) against the exact x = fl(a + b): |x - x'| <= d = e (1 + 2^-22) + 2^-22
// (|a'| + |b|) (the bound carries the first slack); the sigmoid's slope is at most 1/4 and its
// result within 2^-20 relative (plus 2^-100 near underflow) of the exact value, so |p - p'| <=
// d / 4 + 2^-16 p' + 2^-100, raised a little for this arithmetic.
// First against a coarse sigmoid q (sigmoid_coarse16: |q - s| <= 2^-13 s + 2^-126 for the exact
// sigmoid s of x), and only where that leaves a unit of the chunk undecided against sigmoid16.
// Why the same draws: the exact path's p satisfies |p - q| <= (2^-13 + 2^-20)(1 + 2^-12) q + (d / 4)
// (1 + 2^-20) + 2^-99 (sigmoid16 within 2^-20 s + 2^-100, s within 2^-12 of q); the margin
// d / 4 (1 + 2^-10) + 2^-11 q + 2^-90 exceeds that by 3.7 times in q, and covers the rounding of
// q -/+ margin. NaN anywhere makes q or the margin NaN and every test false: the accurate path.
// NOTE: measured (MNIST-sized epoch, TSC cycles per part and epoch): the visible draws' first pass
// 5.4-6.1 M against 6.7-7.5 M with sigmoid16 alone.
inline __mmask16 settled_draws(__m512 ap, __m512 bias, __m512 bnd, __m512 u, __mmask16 in, __mmask16* open) {
  const __m512 tiny = _mm512_set1_ps(0x1p-100f), rel = _mm512_set1_ps(0x1p-22f);
  const __m512 quarter = _mm512_set1_ps(0.25f * (1.0f + 0x1p-10f)), rel16 = _mm512_set1_ps(0x1p-16f);
  const __m512 x = _mm512_add_ps(ap, bias);
  const __m512 d = _mm512_fmadd_ps(rel, _mm512_add_ps(_mm512_abs_ps(ap), _mm512_abs_ps(bias)), bnd);
  {
    const __m512 q = sigmoid_coarse16(x);
    const __m512 mq = _mm512_fmadd_ps(d, quarter, _mm512_fmadd_ps(q, _mm512_set1_ps(0x1p-11f), _mm512_set1_ps(0x1p-90f)));
    const __mmask16 on = _mm512_cmp_ps_mask(u, _mm512_sub_ps(q, mq), _CMP_LT_OQ);
    const __mmask16 off = _mm512_cmp_ps_mask(u, _mm512_add_ps(q, mq), _CMP_GE_OQ);
    if (static_cast<__mmask16>((on | off) & in) == in) {
      *open = 0;
      return on & in;
    }
  }
  const __m512 p = sigmoid16(x);
  const __m512 margin = _mm512_fmadd_ps(d, quarter, _mm512_fmadd_ps(p, rel16, tiny));
  const __mmask16 sure_on = _mm512_cmp_ps_mask(u, _mm512_sub_ps(p, margin), _CMP_LT_OQ);
  const __mmask16 sure_off = _mm512_cmp_ps_mask(u, _mm512_add_ps(p, margin), _CMP_GE_OQ);
  *open = in & static_cast<__mmask16>(~(sure_on | sure_off));
  return sure_on & in;
}

}  // namespace
}  // namespace pk::cpu
