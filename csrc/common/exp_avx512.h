// exp of 16 floats, shared by the files compiled with AVX-512 enabled (activation_avx512.cpp,
// softmax_avx512.cpp and the RBM's through rbm_avx512_math.h).  Internal linkage, so that each file
// keeps its own copy.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace pk::cpu {
namespace {

// The first n of 16 lanes (none for n <= 0, all for n >= 16).
inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u); }

// exp(x) for x in [-104, 0], the caller clamping (and handling NaN): Cody-Waite reduction
// x = n ln2 + r, the degree-6 polynomial of pk::fastmath::exp_nonpositive for exp(r), 2^n by
// vscalefps (which also gives the subnormal results below ln(FLT_MIN) instead of flushing them).
inline __m512 exp_clamped16(__m512 x) {
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln2 split: hi part exact in float
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);       // lo part
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

}  // namespace
}  // namespace pk::cpu
