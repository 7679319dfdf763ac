// Device versions of the non-kernel array operations of pykernels.nn (pykernels/nn/_tensor.py) and
// the optimizer updates of pykernels.optim (pykernels/optim/_update.py), so that a model on the
// cuda backends keeps parameters, gradients and optimizer state on the device.  Device pointers,
// element counts; asynchronous; failures throw.  Reductions are deterministic: a fixed assignment
// of elements to threads and a fixed tree order, no atomics.
#pragma once
#include <cstdint>

namespace pk::cuda {

// x[i] = value.
template <class T> void tensor_fill(T* x, double value, int64_t n);
// z[i] = alpha * x[i] + beta * y[i]; y may be null (then z = alpha * x).  z may alias x or y.
template <class T> void tensor_axpby(double alpha, const T* x, double beta, const T* y, T* z, int64_t n);
// y (rows, cols) += b[col], in place.
template <class T> void tensor_add_bias_rows(T* y, const T* b, int64_t rows, int64_t cols);
// y (n, c, hw) += b[c], in place.
template <class T> void tensor_add_bias_channels(T* y, const T* b, int64_t n, int64_t c, int64_t hw);
// grad[j] += sum_i dy[i, j] (i ascending) for dy (rows, cols).
template <class T> void tensor_accumulate_column_sums(T* grad, const T* dy, int64_t rows, int64_t cols);
// out[0] = scale * sum_i x[i]^2 (one block; deterministic tree).
template <class T> void tensor_sum_squares(const T* x, int64_t n, double scale, T* out);
// x[i] = clamp(x[i], -limit, limit), in place (NaN stays NaN).
template <class T> void tensor_clip(T* x, double limit, int64_t n);
// hits[0] += #{i : argmax_j logits[i, j] == labels[i]} (NumPy's argmax: first maximum, a NaN wins).
template <class T> void tensor_argmax_hits(const T* logits, const int64_t* labels, int64_t rows, int64_t cols,
                                           int64_t* hits);
// torch.optim.SGD (dampening 0, no nesterov): d = g + wd p; with momentum buf = first ? d : m buf + d,
// d = buf; p -= lr d.  buf may be null when momentum == 0.
template <class T> void sgd_update(T* p, const T* g, T* buf, int64_t n, double lr, double momentum,
                                   double weight_decay, bool first);
// torch.optim.Adam (no amsgrad) at 1-based step t: d = g + wd p; m = b1 m + (1-b1) d;
// v = b2 v + (1-b2) d^2; p -= step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps) with
// step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t).
template <class T> void adam_update(T* p, const T* g, T* m, T* v, int64_t n, double beta1, double beta2, double eps,
                                    double weight_decay, double step_size, double inv_sqrt_bc2);

}  // namespace pk::cuda
