// Softmax and softmax-cross-entropy on a CUDA device (or cuda-sim); the math is stated in
// pykernels/reference/softmax.py. Row-major (n, k) device arrays; asynchronous; failures throw.
#pragma once
#include <cstdint>

namespace pk::cuda {

template <class T> void softmax(const T* x, T* y, int64_t n, int64_t k);
template <class T> void log_softmax(const T* x, T* y, int64_t n, int64_t k);

// Per-row loss -sum_k t_k log p_k into loss (n,), and probs = softmax(logits).
// labels: int64 (n,) in [0, k) when soft_target is null; soft_target: (n, k) otherwise.
template <class T>
void softmax_cross_entropy(const T* logits, const int64_t* labels, const T* soft_target, T* loss, T* probs,
                           int64_t n, int64_t k);

// out[0] = scale * sum(x[0:n]), accumulated in double (as the reference).
template <class T>
void sum_scaled(const T* x, int64_t n, double scale, T* out);

// dlogits = (probs - t) * (scale_rows ? scale_rows[row] : scale).
template <class T>
void softmax_cross_entropy_backward(const T* probs, const int64_t* labels, const T* soft_target,
                                    const T* scale_rows, T scale, T* dlogits, int64_t n, int64_t k);

}  // namespace pk::cuda
