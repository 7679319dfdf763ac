#include "pool.cuh"

#include <cmath>

#include "grid.cuh"

namespace pk::cuda {

namespace {

// Input rows [*lo, *hi) covered by window row i (clipped to the input).
__device__ inline void window_span(int64_t i, int64_t s, int64_t pad, int64_t k, int64_t size, int64_t* lo,
                                   int64_t* hi) {
  const int64_t start = i * s - pad;
  *lo = start > 0 ? start : 0;
  *hi = start + k < size ? start + k : size;
}

// Windows [*lo, *hi) along one axis that cover input position pos.
__device__ inline void covering(int64_t pos, int64_t s, int64_t pad, int64_t k, int64_t out, int64_t* lo,
                                int64_t* hi) {
  // window i covers pos when i*s - pad <= pos <= i*s - pad + k - 1
  const int64_t first = pos + pad - k + 1;  // i*s >= first
  *lo = first > 0 ? (first + s - 1) / s : 0;
  const int64_t last = (pos + pad) / s + 1;
  *hi = last < out ? last : out;
}

// One thread per output element (grid-stride) scanning its window in row-major order: strict '>'
// keeps the first maximum, a NaN always takes over (so the last NaN wins), the padding is skipped.
template <class T>
__global__ void max_pool2d_kernel(const T* x, T* y, int64_t* indices, Window g) {
  const int64_t total = g.n * g.c * g.out_plane();
  PK_GRID_STRIDE_LOOP(e, total) {
    const int64_t j = e % g.ow, i = (e / g.ow) % g.oh, plane = e / g.out_plane();
    const T* xp = x + plane * g.plane();
    int64_t h0, h1, w0, w1;
    window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
    window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
    T best = -T(INFINITY);
    int64_t arg = h0 * g.w + w0;
    for (int64_t hh = h0; hh < h1; ++hh) {
      for (int64_t ww = w0; ww < w1; ++ww) {
        const T v = xp[hh * g.w + ww];
        if (v > best || v != v) {
          best = v;
          arg = hh * g.w + ww;
        }
      }
    }
    y[e] = best;
    indices[e] = arg;
  }
}

// One thread per plane (grid-stride), adding that plane's dy entries in output order.  The indices
// are data (any position of the plane), so no input element can tell which outputs point at it
// without scanning them all; a plane per thread keeps the sum ordered and free of atomics.  An index
// outside the plane is skipped and raises *bad (the only atomic: a flag, not a sum).
template <class T>
__global__ void max_pool2d_backward_kernel(const T* dy, const int64_t* indices, T* dx, int64_t planes,
                                           int64_t in_plane, int64_t out_plane, int* bad) {
  PK_GRID_STRIDE_LOOP(t, planes) {
    T* dxp = dx + t * in_plane;
    const T* dyp = dy + t * out_plane;
    const int64_t* ip = indices + t * out_plane;
    for (int64_t k = 0; k < out_plane; ++k) {
      const uint64_t i = static_cast<uint64_t>(ip[k]);  // negative -> huge
      if (i < static_cast<uint64_t>(in_plane)) {
        dxp[i] += dyp[k];
      } else {
        atomicExch(bad, 1);
      }
    }
  }
}

// One thread per output element (grid-stride): the window sum in row-major order over the part
// inside the input, divided by KH*KW.
template <class T>
__global__ void avg_pool2d_kernel(const T* x, T* y, Window g) {
  const int64_t total = g.n * g.c * g.out_plane();
  const T size = static_cast<T>(g.kh * g.kw);
  PK_GRID_STRIDE_LOOP(e, total) {
    const int64_t j = e % g.ow, i = (e / g.ow) % g.oh, plane = e / g.out_plane();
    const T* xp = x + plane * g.plane();
    int64_t h0, h1, w0, w1;
    window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
    window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
    T s = T(0);
    for (int64_t hh = h0; hh < h1; ++hh)
      for (int64_t ww = w0; ww < w1; ++ww) s += xp[hh * g.w + ww];
    y[e] = s / size;
  }
}

// One thread per input element (grid-stride): the shares dy / (KH*KW) of the windows covering it,
// window rows then columns ascending (the CPU's order of addition).
template <class T>
__global__ void avg_pool2d_backward_kernel(const T* dy, T* dx, Window g) {
  const int64_t total = g.n * g.c * g.plane();
  const T size = static_cast<T>(g.kh * g.kw);
  PK_GRID_STRIDE_LOOP(e, total) {
    const int64_t ww = e % g.w, hh = (e / g.w) % g.h, plane = e / g.plane();
    const T* dyp = dy + plane * g.out_plane();
    int64_t i0, i1, j0, j1;
    covering(hh, g.sh, g.ph, g.kh, g.oh, &i0, &i1);
    covering(ww, g.sw, g.pw, g.kw, g.ow, &j0, &j1);
    T s = T(0);
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = j0; j < j1; ++j) s += dyp[i * g.ow + j] / size;
    dx[e] = s;
  }
}

}  // namespace

template <class T>
void max_pool2d(const T* x, T* y, int64_t* indices, const Window& g) {
  launch(max_pool2d_kernel<T>, grid_1d(g.n * g.c * g.out_plane()), dim3(kBlock), x, y, indices, g);
}

template <class T>
bool max_pool2d_backward(const T* dy, const int64_t* indices, T* dx, int64_t planes, int64_t in_plane,
                         int64_t out_plane) {
  if (planes * in_plane > 0) PK_CUDA_CHECK(cudaMemset(dx, 0, sizeof(T) * static_cast<size_t>(planes * in_plane)));
  if (planes * out_plane == 0) return true;
  DeviceBuffer<int> bad(1);
  PK_CUDA_CHECK(cudaMemset(bad.get(), 0, sizeof(int)));
  launch(max_pool2d_backward_kernel<T>, grid_1d(planes), dim3(kBlock), dy, indices, dx, planes, in_plane, out_plane,
         bad.get());
  int flag = 0;
  PK_CUDA_CHECK(cudaMemcpy(&flag, bad.get(), sizeof(int), cudaMemcpyDeviceToHost));
  return flag == 0;
}

template <class T>
void avg_pool2d(const T* x, T* y, const Window& g) {
  launch(avg_pool2d_kernel<T>, grid_1d(g.n * g.c * g.out_plane()), dim3(kBlock), x, y, g);
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Window& g) {
  launch(avg_pool2d_backward_kernel<T>, grid_1d(g.n * g.c * g.plane()), dim3(kBlock), dy, dx, g);
}

#define PK_INSTANTIATE(T)                                                                            \
  template void max_pool2d<T>(const T*, T*, int64_t*, const Window&);                               \
  template bool max_pool2d_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t);    \
  template void avg_pool2d<T>(const T*, T*, const Window&);                                         \
  template void avg_pool2d_backward<T>(const T*, T*, const Window&);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cuda
