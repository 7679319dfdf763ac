#include "rnn.cuh"

#include "gemm.cuh"
#include "grid.cuh"
#include "math.cuh"

namespace pk::cuda {

namespace {

// One thread per element of a (rows, hidden) step (grid-stride): h = tanh(h + b), h holding the
// two products on entry.
template <class T>
__global__ void bias_tanh_kernel(T* h, const T* b, int64_t total, int64_t hidden) {
  PK_GRID_STRIDE_LOOP(e, total) { h[e] = tanh_t(h[e] + b[e % hidden]); }
}

// One thread per element (grid-stride): g = (g + dh) * (1 - h^2), or dh * (1 - h^2) without carry
// (the error reaching a step, turned into its pre-activation error).
template <class T>
__global__ void through_tanh_kernel(T* g, const T* dh, const T* h, int64_t total, bool carry) {
  PK_GRID_STRIDE_LOOP(e, total) {
    const T slope = T(1) - h[e] * h[e];
    g[e] = (carry ? g[e] + dh[e] : dh[e]) * slope;
  }
}

// One thread per element (grid-stride): the depth-0 terms of truncated BPTT (reference docstring):
// slope = 1 - hs^2, d = dhs * slope, g = d.
template <class T>
__global__ void truncated_start_kernel(const T* dhs, const T* hs, T* slope, T* d, T* g, int64_t total) {
  PK_GRID_STRIDE_LOOP(e, total) {
    slope[e] = T(1) - hs[e] * hs[e];
    d[e] = dhs[e] * slope[e];
    g[e] = d[e];
  }
}

// One thread per element (grid-stride): the errors moved one step further back pass through tanh
// (next *= slope) and join the error reaching their step (g += next).
template <class T>
__global__ void truncated_depth_kernel(T* next, const T* slope, T* g, int64_t total) {
  PK_GRID_STRIDE_LOOP(e, total) {
    next[e] *= slope[e];
    g[e] += next[e];
  }
}

// One thread per column j (grid-stride): out[j] = sum over the rows of g[:, j], in row order, in
// double.  Neighbouring threads read neighbouring addresses.
template <class T>
__global__ void column_sum_kernel(const T* g, T* out, int64_t rows, int64_t cols) {
  PK_GRID_STRIDE_LOOP(j, cols) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s += static_cast<double>(g[r * cols + j]);
    out[j] = static_cast<T>(s);
  }
}

}  // namespace

template <class T>
void rnn_forward(const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b, T* hs, int64_t steps,
                 int64_t n, int64_t in, int64_t hidden) {
  const int64_t step = n * hidden;
  // hs = x @ w_ih^T for every step at once
  gemm<T>(false, true, steps * n, hidden, in, T(1), x, in, w_ih, in, T(0), hs, hidden);
  for (int64_t t = 0; t < steps; ++t) {
    T* h = hs + t * step;
    const T* h_prev = t == 0 ? h0 : h - step;
    gemm<T>(false, true, n, hidden, hidden, T(1), h_prev, hidden, w_hh, hidden, T(1), h, hidden);
    launch(bias_tanh_kernel<T>, grid_1d(step), dim3(kBlock), h, b, step, hidden);
  }
}

template <class T>
void rnn_backward(const T* dhs, const T* x, const T* hs, const T* h0, const T* w_ih, const T* w_hh,
                  int64_t truncate, T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db, int64_t steps, int64_t n, int64_t in,
                  int64_t hidden) {
  const int64_t step = n * hidden, total = steps * step;
  // g[s]: the pre-activation error reaching step s (the reference's g_s).
  DeviceBuffer<T> g(total);
  if (truncate < 0 || truncate >= steps - 1) {
    for (int64_t t = steps - 1; t >= 0; --t) {
      T* gt = g.get() + t * step;
      const bool carry = t < steps - 1;
      if (carry) gemm<T>(false, false, n, hidden, hidden, T(1), gt + step, hidden, w_hh, hidden, T(0), gt, hidden);
      launch(through_tanh_kernel<T>, grid_1d(step), dim3(kBlock), gt, dhs + t * step, hs + t * step, step, carry);
    }
  } else {
    // Depth by depth: d[s] holds every injection's error moved `depth` steps back, s < steps - depth.
    DeviceBuffer<T> slope(total), d(total), next(total);
    launch(truncated_start_kernel<T>, grid_1d(total), dim3(kBlock), dhs, hs, slope.get(), d.get(), g.get(), total);
    for (int64_t depth = 1; depth <= truncate; ++depth) {
      const int64_t rows = (steps - depth) * n;
      gemm<T>(false, false, rows, hidden, hidden, T(1), d.get() + step, hidden, w_hh, hidden, T(0), next.get(),
              hidden);
      launch(truncated_depth_kernel<T>, grid_1d(rows * hidden), dim3(kBlock), next.get(), slope.get(), g.get(),
             rows * hidden);
      std::swap(d, next);
    }
  }
  const T* gp = g.get();
  gemm<T>(false, false, n, hidden, hidden, T(1), gp, hidden, w_hh, hidden, T(0), dh0, hidden);
  gemm<T>(false, false, steps * n, in, hidden, T(1), gp, hidden, w_ih, in, T(0), dx, in);
  gemm<T>(true, false, hidden, in, steps * n, T(1), gp, hidden, x, in, T(0), dw_ih, in);
  // dw_hh = g_0^T h0 + sum_{s>=1} g_s^T h_{s-1}
  gemm<T>(true, false, hidden, hidden, n, T(1), gp, hidden, h0, hidden, T(0), dw_hh, hidden);
  gemm<T>(true, false, hidden, hidden, (steps - 1) * n, T(1), gp + step, hidden, hs, hidden, T(1), dw_hh, hidden);
  launch(column_sum_kernel<T>, grid_1d(hidden), dim3(kBlock), gp, db, steps * n, hidden);
}

#define PK_INSTANTIATE(T)                                                                                         \
  template void rnn_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t, int64_t,   \
                               int64_t);                                                                          \
  template void rnn_backward<T>(const T*, const T*, const T*, const T*, const T*, const T*, int64_t, T*, T*, T*, \
                                T*, T*, int64_t, int64_t, int64_t, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cuda
