// float32 activations for AVX-512, written with intrinsics: the compiler's vectorisation of
// pk::fastmath (activation_kernels.inc, still used for the other instruction sets) divides and
// builds 2^n from integer bits; here 2^n comes from vscalefps and quotients from a reciprocal
// estimate, one Newton step and one correction of the quotient.  The sigmoid keeps fastmath's
// polynomials; tanh has its own single path (tanh16).  Relative error below 3e-7 against float64,
// tested over a dense sweep in tests/test_activation.py; NaN propagates.
// NOTE: measured (one thread, 65536 floats in L2): sigmoid 31.7 -> 21.4 us, tanh 37.0 -> 26.9 us
// (fastmath's two paths) -> 24.5-25.9 (tanh16); largest error over 6M points against float64:
// sigmoid 2.6 ulp (2.7 before), tanh 1.5 ulp (1.5 before), 1.56 ulp over 5.2M (tanh16).
#include <immintrin.h>

#include <cstdint>

#include "common/exp_avx512.h"

namespace pk::cpu::avx512 {

namespace {

// exp(x) for x <= 0; below -104 the result is 0.
inline __m512 exp_nonpositive(__m512 x) { return exp_clamped16(_mm512_max_ps(x, _mm512_set1_ps(-104.0f))); }

// num / den for den in [1, 2]: r = 1 / den from the 14-bit estimate and one Newton step (relative
// error about 2^-28 before rounding), q = num r, and one correction q + r (num - q den) with the
// residual from an FMA, which brings q within about half an ulp of the quotient.
inline __m512 divide(__m512 num, __m512 den) {
  __m512 r = _mm512_rcp14_ps(den);
  r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(den, r, _mm512_set1_ps(1.0f)), r);
  const __m512 q = _mm512_mul_ps(num, r);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(q, den, num), q);
}

inline __m512 sigmoid16(__m512 x) {
  const __m512 e = exp_nonpositive(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(x)));
  // x >= 0: 1 / (1 + e^-x); x < 0: e^x / (1 + e^x); NaN: x itself
  const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512 num = _mm512_mask_mov_ps(_mm512_set1_ps(1.0f), neg, e);
  return _mm512_mask_mov_ps(divide(num, _mm512_add_ps(e, _mm512_set1_ps(1.0f))), nan, x);
}

// tanh(|x|) = d / (d + 2) with d = expm1(2 |x|), the sign of x put back: one path for every x, where
// fastmath's tanh computes an odd polynomial for |x| < 0.625 and (1 - e) / (1 + e) with e =
// exp(-2 |x|) for every lane and keeps one (no cancellation near 0 here either: d ~ 2 |x|).
// expm1(t) = 2^n (1 + e) - 1 = fma(2^n, e, 2^n - 1) with t = n ln2 + r (Cody-Waite, |r| <= ln2 / 2)
// and e = expm1(r) = r + r^2 q(r), q the degree-5 Taylor polynomial of (e^r - 1 - r) / r^2
// (remainder at most (ln2 / 2)^6 / 8! = 4.3e-8 in q, 1.5e-8 relative in e); |x| clamped to 9.1,
// where tanh is within half an ulp of 1.  The quotient's correction takes in the rounding error of
// d + 2 (lo: exact by Fast2Sum while d + 2 < 2^25, i.e. |x| < 8.67, 2 - (d + 2) then exact).
// NOTE: measured (one thread, 65536 floats in L2, medians of 300, alternating the builds): 27.7-29.1
// -> 24.5-25.9 us (1M floats on two threads: 232-245 -> 206-217 us); largest error over 5.2M points
// of [-10, 10] against float64 1.56 ulp (fastmath's 1.5), the correctly rounded value at 97% of 3M
// points of [-8, 8] (fastmath's at 55%), within one ulp of it on [8, 12].  Without the correction
// by lo, 22.6 us and 2.2 ulp.
inline __m512 tanh16(__m512 x) {
  const __m512 a = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(9.1f));
  const __m512 t = _mm512_add_ps(a, a);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), t);  // ln2 split: hi part exact in float
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);       // lo part
  __m512 q = _mm512_set1_ps(1.0f / 5040.0f);
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f / 720.0f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f / 120.0f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f / 24.0f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f / 6.0f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.5f));
  const __m512 e = _mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r);
  const __m512 p2 = _mm512_scalef_ps(_mm512_set1_ps(1.0f), n);
  const __m512 d = _mm512_fmadd_ps(p2, e, _mm512_sub_ps(p2, _mm512_set1_ps(1.0f)));
  // d / (d + 2): a reciprocal estimate, one Newton step, and the quotient corrected by its residual
  // d - q0 (d + 2) with d + 2 as den + lo
  const __m512 two = _mm512_set1_ps(2.0f);
  const __m512 den = _mm512_add_ps(d, two);
  const __m512 lo = _mm512_add_ps(_mm512_sub_ps(two, den), d);
  __m512 rc = _mm512_rcp14_ps(den);
  rc = _mm512_fmadd_ps(rc, _mm512_fnmadd_ps(den, rc, _mm512_set1_ps(1.0f)), rc);
  const __m512 q0 = _mm512_mul_ps(d, rc);
  const __m512 y = _mm512_fmadd_ps(rc, _mm512_fnmadd_ps(q0, lo, _mm512_fnmadd_ps(q0, den, d)), q0);
  const __m512 signed_y = _mm512_or_ps(y, _mm512_and_ps(x, _mm512_set1_ps(-0.0f)));
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(signed_y, nan, x);
}

template <class F>
inline void map16(const float* x, float* y, int64_t n, F&& f) {
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    _mm512_storeu_ps(y + i, f(a));
    _mm512_storeu_ps(y + i + 16, f(b));
  }
  for (; i < n; i += 16) {
    const __mmask16 m = lanes(n - i);
    _mm512_mask_storeu_ps(y + i, m, f(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

}  // namespace

void sigmoid_f32(const float* x, float* y, int64_t n) { map16(x, y, n, sigmoid16); }

void tanh_f32(const float* x, float* y, int64_t n) { map16(x, y, n, tanh16); }

}  // namespace pk::cpu::avx512
