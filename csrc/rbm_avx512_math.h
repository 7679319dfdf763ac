// AVX-512 helpers shared by the RBM's AVX-512 and AMX files (rbm_avx512.cpp, rbm_amx.cpp); include
// only from files compiled with AVX-512 enabled.  Internal linkage, so that each file keeps its own copy.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "common/exp_avx512.h"

namespace pk::cpu {
namespace {


// sigmoid of 16 floats: e = exp(-|x|) as in pk::fastmath (Cody-Waite reduction -|x| = n ln2 + r,
// the same degree-6 polynomial for exp(r)) but 2^n by vscalefps, then 1/(1+e) by a reciprocal
// estimate and one Newton step; e/(1+e) for x < 0.  NaN propagates.
// Within 3 ulp of the exact value for normal results (fastmath: 2).
// NOTE: measured (one thread, rbm_visible_probs 2000 x 784 with n_hidden = 1, sigmoid-bound):
// 1.20 -> 0.98 ms against the compiler's vectorisation of fastmath::sigmoid (a division, exponent
// bits by integer ops).
inline __m512 sigmoid16(__m512 x) {
  // -|x|, clamped where e is 0 in float anyway (keeps n small)
  const __m512 nx = _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)), _mm512_set1_ps(-104.0f));
  const __m512 e = exp_clamped16(nx);
  const __m512 d = _mm512_add_ps(e, _mm512_set1_ps(1.0f));
  __m512 inv = _mm512_rcp14_ps(d);
  inv = _mm512_mul_ps(inv, _mm512_fnmadd_ps(d, inv, _mm512_set1_ps(2.0f)));
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 y = _mm512_mask_mul_ps(inv, neg, e, inv);
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(y, nan, x);
}

// x[i] (16 rows) becomes x[i] = column i of the 16 x 16 block.
inline void transpose16(__m512* x) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(x[i], x[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(x[i], x[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    for (int s = 0; s < 2; ++s) {
      const __m512d lo = _mm512_castps_pd(t[i + s]), hi = _mm512_castps_pd(t[i + s + 2]);
      x[i + 2 * s] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
      x[i + 2 * s + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
    }
  }
  // x[4m + k] now holds, in 128-bit lane g, rows 4m .. 4m + 3 of column 4g + k.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(x[i], x[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(x[i], x[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(x[i + 8], x[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(x[i + 8], x[i + 12], 0xdd);
  }
  for (int i = 0; i < 8; ++i) {
    x[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    x[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// The first n of 16 lanes for n in [0, 16], without a branch (lanes() tests its range: a branch on
// whether a chunk has any unit on, which random draws mispredict).
// NOTE: measured (fused RBM epoch): the visible draws took 66 cycles per chunk of 16 with lanes().
inline __mmask16 first_lanes(int n) { return static_cast<__mmask16>((1u << n) - 1u); }

// The draws of 16 units j .. j + 15 (lanes `in`, `on` the units drawn 1): sample[j ..] = 0 or 1, and
// the indices of the ones (lanes of `index`) appended to idx/val[count ..]; returns the new count.
// NOTE: masked stores of the compressed registers, not plain ones: the next row's list, which
// another thread may be writing, starts right after this row's capacity.
inline int32_t store_draws(__mmask16 in, __mmask16 on, __m512i index, float* sample, int32_t* idx, float* val,
                           int32_t count) {
  const __m512 one = _mm512_set1_ps(1.0f);
  _mm512_mask_storeu_ps(sample, in, _mm512_maskz_mov_ps(on, one));
  const int n_on = __builtin_popcount(on);
  _mm512_mask_storeu_epi32(idx + count, first_lanes(n_on), _mm512_maskz_compress_epi32(on, index));
  _mm512_mask_storeu_ps(val + count, first_lanes(n_on), one);
  return count + n_on;
}

}  // namespace
}  // namespace pk::cpu
