// Device math shared by the kernel files: one spelling for float and double (expf/exp, ...), and
// the overflow-safe scalar activations (the math is stated in pykernels/reference/activation.py).
#pragma once
#include <type_traits>

#include "common.cuh"

namespace pk::cuda {

template <class T>
__device__ __forceinline__ T exp_t(T x) {
  if constexpr (std::is_same_v<T, float>) return ::expf(x);
  else return ::exp(x);
}
template <class T>
__device__ __forceinline__ T log_t(T x) {
  if constexpr (std::is_same_v<T, float>) return ::logf(x);
  else return ::log(x);
}
template <class T>
__device__ __forceinline__ T tanh_t(T x) {
  if constexpr (std::is_same_v<T, float>) return ::tanhf(x);
  else return ::tanh(x);
}

// NOTE: 1/(1+exp(-x)) overflows exp for large negative x; split on the sign. NaN takes the second
// branch and propagates.
template <class T>
__device__ __forceinline__ T sigmoid_t(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp_t(-x));
  const T e = exp_t(x);
  return e / (T(1) + e);
}

// max that propagates NaN (fmax would drop it): a NaN anywhere in a softmax row makes the row NaN.
template <class T>
__device__ __forceinline__ T nan_max(T a, T b) {
  return (b > a || b != b) ? b : a;
}

}  // namespace pk::cuda
