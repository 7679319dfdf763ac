#include "rnn.h"

#include <cmath>
#include <vector>

#include "activation.h"
#include "gemm.h"

namespace pk::cpu {

namespace {

// Row-major transpose of a rows x cols matrix.
template <class T>
std::vector<T> transposed(const T* a, int64_t rows, int64_t cols) {
  std::vector<T> t(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = a[r * cols + c];
  return t;
}

}  // namespace

template <class T>
void rnn_forward(const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b, T* hs, int64_t steps,
                 int64_t n, int64_t in, int64_t hidden) {
  const int64_t step = n * hidden;
  // The input projection of every step in one product: hs = x @ w_ih^T.
  gemm<T>(false, true, steps * n, hidden, in, T(1), x, in, w_ih, in, T(0), hs, hidden);
  // w_hh^T once, so that each step's product reads it row-major without repacking.
  const std::vector<T> w_hh_t = transposed(w_hh, hidden, hidden);
  for (int64_t t = 0; t < steps; ++t) {
    T* h = hs + t * step;
    const T* h_prev = t == 0 ? h0 : h - step;
    gemm<T>(false, false, n, hidden, hidden, T(1), h_prev, hidden, w_hh_t.data(), hidden, T(1), h, hidden);
    for (int64_t r = 0; r < n; ++r) {
      T* hr = h + r * hidden;
      for (int64_t j = 0; j < hidden; ++j) hr[j] += b[j];
    }
    // NOTE: measured (rnn bench, T=25 N=1 H=100): the vectorised tanh of activation.cpp instead of
    // std::tanh per element took a fifth off the forward + backward call.
    tanh<T>(h, h, step);
  }
}

template <class T>
void rnn_backward(const T* dhs, const T* x, const T* hs, const T* h0, const T* w_ih, const T* w_hh,
                  int64_t truncate, T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db, int64_t steps, int64_t n, int64_t in,
                  int64_t hidden) {
  const int64_t step = n * hidden;
  const int64_t total = steps * step;
  // g[s]: the pre-activation error reaching step s (the reference's g_s).
  std::vector<T> g(static_cast<size_t>(total));
  if (truncate < 0 || truncate >= steps - 1) {
    for (int64_t t = steps - 1; t >= 0; --t) {
      T* gt = g.data() + t * step;
      const T* h = hs + t * step;
      const T* dh = dhs + t * step;
      if (t == steps - 1) {
        for (int64_t i = 0; i < step; ++i) gt[i] = dh[i] * (T(1) - h[i] * h[i]);
      } else {
        gemm<T>(false, false, n, hidden, hidden, T(1), gt + step, hidden, w_hh, hidden, T(0), gt, hidden);
        for (int64_t i = 0; i < step; ++i) gt[i] = (gt[i] + dh[i]) * (T(1) - h[i] * h[i]);
      }
    }
  } else {
    // Depth by depth (reference docstring): d holds the errors of all injections moved `depth` steps
    // back, d[s] for s < steps - depth; each depth is one product over all of them.
    std::vector<T> slope(static_cast<size_t>(total)), d(static_cast<size_t>(total)), next(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) {
      slope[i] = T(1) - hs[i] * hs[i];
      d[i] = dhs[i] * slope[i];
      g[i] = d[i];
    }
    for (int64_t depth = 1; depth <= truncate; ++depth) {
      const int64_t rows = (steps - depth) * n;
      gemm<T>(false, false, rows, hidden, hidden, T(1), d.data() + step, hidden, w_hh, hidden, T(0), next.data(),
              hidden);
      const int64_t len = rows * hidden;
      for (int64_t i = 0; i < len; ++i) {
        next[i] *= slope[i];
        g[i] += next[i];
      }
      d.swap(next);
    }
  }
  const T* gp = g.data();
  gemm<T>(false, false, n, hidden, hidden, T(1), gp, hidden, w_hh, hidden, T(0), dh0, hidden);
  gemm<T>(false, false, steps * n, in, hidden, T(1), gp, hidden, w_ih, in, T(0), dx, in);
  gemm<T>(true, false, hidden, in, steps * n, T(1), gp, hidden, x, in, T(0), dw_ih, in);
  // dw_hh = g_0^T h0 + sum_{s>=1} g_s^T h_{s-1}
  gemm<T>(true, false, hidden, hidden, n, T(1), gp, hidden, h0, hidden, T(0), dw_hh, hidden);
  gemm<T>(true, false, hidden, hidden, (steps - 1) * n, T(1), gp + step, hidden, hs, hidden, T(1), dw_hh, hidden);
  std::vector<double> db_sum(static_cast<size_t>(hidden), 0.0);
  for (int64_t r = 0; r < steps * n; ++r) {
    const T* gr = gp + r * hidden;
    for (int64_t j = 0; j < hidden; ++j) db_sum[j] += static_cast<double>(gr[j]);
  }
  for (int64_t j = 0; j < hidden; ++j) db[j] = static_cast<T>(db_sum[j]);
}

#define PK_INSTANTIATE(T)                                                                                         \
  template void rnn_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t, int64_t,   \
                               int64_t);                                                                          \
  template void rnn_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, int64_t, T*, T*, T*, \
                                T*, T*, int64_t, int64_t, int64_t, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cpu
