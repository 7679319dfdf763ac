// Internal to the CPU softmax: the float32 AVX-512 row kernel (softmax_avx512.cpp), entered only when
// active_isa() says the CPU has AVX-512.
#pragma once
#include <cstdint>

namespace pk::cpu::softmax_avx512 {

// The largest of x[0 .. k) (-inf for k = 0), NaN when any is NaN.
float row_max(const float* x, int64_t k);

// y[j] = exp(x[j] - mx) for j < k (0 where x[j] - mx < ln(FLT_MIN), NaN where it is NaN); returns
// the sum of the y[j], accumulated in double.
double exp_shifted(const float* x, float* y, int64_t k, float mx);

}  // namespace pk::cpu::softmax_avx512
