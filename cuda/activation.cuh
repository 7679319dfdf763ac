// Elementwise activations on a CUDA device (or cuda-sim); the math is stated in
// pykernels/reference/activation.py. Device pointers, n elements; asynchronous; failures throw.
#pragma once
#include <cstdint>

namespace pk::cuda {

template <class T> void sigmoid(const T* x, T* y, int64_t n);
template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void tanh(const T* x, T* y, int64_t n);
template <class T> void tanh_backward(const T* y, const T* dy, T* dx, int64_t n);
template <class T> void relu(const T* x, T* y, int64_t n);
template <class T> void relu_backward(const T* x, const T* dy, T* dx, int64_t n);

}  // namespace pk::cuda
