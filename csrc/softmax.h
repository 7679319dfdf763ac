// Softmax and softmax-cross-entropy on the CPU; the math is stated in pykernels/reference/softmax.py.
// All arrays are row-major (n, k).
#pragma once
#include <cstdint>

namespace pk::cpu {

template <class T> void softmax(const T* x, T* y, int64_t n, int64_t k);
template <class T> void log_softmax(const T* x, T* y, int64_t n, int64_t k);

// Per-row loss -sum_k t_k log p_k into loss (n,), and probs = softmax(logits).
// labels: int64 (n,) in [0, k) when soft_target is null; soft_target: (n, k) otherwise.
template <class T>
void softmax_cross_entropy(const T* logits, const int64_t* labels, const T* soft_target, T* loss, T* probs,
                           int64_t n, int64_t k);

// dlogits = (probs - t) * scale[row]; scale has n entries (or one when per_row is false).
template <class T>
void softmax_cross_entropy_backward(const T* probs, const int64_t* labels, const T* soft_target,
                                    const T* scale, bool per_row, T* dlogits, int64_t n, int64_t k);

}  // namespace pk::cpu
