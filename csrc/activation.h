// Elementwise activations on the CPU; the math is stated in pykernels/reference/activation.py.
#pragma once
#include <cstdint>

namespace pk::cpu {

template <class T> void sigmoid(const T* x, T* y, int64_t n);
template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void tanh(const T* x, T* y, int64_t n);
template <class T> void tanh_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void relu(const T* x, T* y, int64_t n);
template <class T> void relu_backward(const T* x, const T* dy, T* dx, int64_t n);

// Scalar helpers shared with the other CPU kernels (RNN, RBM).
// NOTE: 1/(1+exp(-x)) overflows exp for large negative x; split on the sign instead.
template <class T>
inline T sigmoid_scalar(T x);

}  // namespace pk::cpu

#include <cmath>

template <class T>
inline T pk::cpu::sigmoid_scalar(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}
