// Branch-free float32 exp / sigmoid / tanh that compilers vectorise (AVX-512, AVX2 or SSE by the
// flags of the including file). Accuracy: a few ulp over the whole float range (tested against NumPy).
// NaN propagates; no input overflows.
#pragma once
#include <cstdint>
#include <cstring>

namespace pk::fastmath {

// exp(x) for x <= 0 (the only range the activations need: they call it with -|x|).
// Cody-Waite reduction x = n*ln2 + r, |r| <= ln2/2, degree-6 polynomial, 2^n by exponent bits.
constexpr float kLnFltMin = -87.33654f;

inline float exp_nonpositive(float x) {
  // NOTE: below ln(FLT_MIN) the true result is subnormal; it is flushed to 0 (absolute error < 1.2e-38).
  // NOTE: written so that NaN also lands on the clamp: converting NaN to int below would be UB.
  const float xc = x >= kLnFltMin ? x : kLnFltMin;
  const float n = __builtin_roundf(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f;   // ln2 split: hi part exact in float
  r = r - n * -2.12194440e-4f;       // lo part
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float e = p * scale;
  return x < kLnFltMin ? 0.0f : (x != x ? x : e);
}

inline float sigmoid(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float e = exp_nonpositive(-ax);  // in (0, 1]
  const float inv = 1.0f / (1.0f + e);
  // x >= 0: 1/(1+e^-x); x < 0: e^x/(1+e^x); NaN: exp_nonpositive returned NaN.
  return x >= 0.0f ? inv : (x != x ? x : e * inv);
}

inline float tanh(float x) {
  const float ax = x < 0.0f ? -x : x;
  // |x| < 0.625: odd polynomial (the 1-e form would cancel); otherwise (1-e)/(1+e), e = exp(-2|x|).
  const float x2 = x * x;
  float p = -5.70498872745e-3f;
  p = p * x2 + 2.06390887954e-2f;
  p = p * x2 - 5.37397155531e-2f;
  p = p * x2 + 1.33314422036e-1f;
  p = p * x2 - 3.33332819422e-1f;
  const float small = x + x * x2 * p;
  const float e = exp_nonpositive(-2.0f * ax);
  const float big = (1.0f - e) / (1.0f + e);
  const float signed_big = x < 0.0f ? -big : big;
  return ax < 0.625f ? small : (x != x ? x : signed_big);
}

}  // namespace pk::fastmath
