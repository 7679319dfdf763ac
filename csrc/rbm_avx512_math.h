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

// The draws of 16 units j .. j + 15 (lanes `in`, `on` the units drawn 1): sample[j ..] = 0 or 1, and
// the indices of the ones (lanes of `index`) appended to idx/val[count ..]; returns the new count.
// NOTE: masked stores of the compressed registers, not plain ones: the next row's list, which
// another thread may be writing, starts right after this row's capacity.
inline int32_t store_draws(__mmask16 in, __mmask16 on, __m512i index, float* sample, int32_t* idx, float* val,
                           int32_t count) {
  const __m512 one = _mm512_set1_ps(1.0f);
  _mm512_mask_storeu_ps(sample, in, _mm512_maskz_mov_ps(on, one));
  const int n_on = __builtin_popcount(on);
  _mm512_mask_storeu_epi32(idx + count, lanes(n_on), _mm512_maskz_compress_epi32(on, index));
  _mm512_mask_storeu_ps(val + count, lanes(n_on), one);
  return count + n_on;
}

}  // namespace
}  // namespace pk::cpu
