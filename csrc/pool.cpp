#include "pool.h"

#include <algorithm>
#include <limits>

#include "common/parallel.h"

namespace pk::cpu {

namespace {

int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, work_per_plane));
}

// Rows [*lo, *hi) of the input covered by output row i (clipped to the input).
inline void window_span(int64_t i, int64_t s, int64_t pad, int64_t k, int64_t size, int64_t* lo, int64_t* hi) {
  const int64_t start = i * s - pad;
  *lo = std::max<int64_t>(start, 0);
  *hi = std::min(start + k, size);
}

}  // namespace

template <class T>
void max_pool2d(const T* x, T* y, int64_t* indices, const Window& g) {
  parallel_for(g.n * g.c, plane_grain(g.out_plane() * g.kh * g.kw), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const T* xp = x + t * g.plane();
      T* yp = y + t * g.out_plane();
      int64_t* ip = indices + t * g.out_plane();
      for (int64_t i = 0; i < g.oh; ++i) {
        int64_t h0, h1;
        window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
        for (int64_t j = 0; j < g.ow; ++j) {
          int64_t w0, w1;
          window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
          // Strict '>' keeps the first maximum; a NaN always takes over, so the last NaN wins
          // (torch's CPU rule).  The padding (-inf) is never looked at.
          T best = -std::numeric_limits<T>::infinity();
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
          yp[i * g.ow + j] = best;
          ip[i * g.ow + j] = arg;
        }
      }
    }
  });
}

template <class T>
bool max_pool2d_backward(const T* dy, const int64_t* indices, T* dx, int64_t planes, int64_t in_plane,
                         int64_t out_plane) {
  const int64_t plane = in_plane, out = out_plane;
  int64_t bad = 0;
  parallel_for(planes, plane_grain(out), [&](int64_t t0, int64_t t1) {
    int64_t my_bad = 0;
    for (int64_t t = t0; t < t1; ++t) {
      T* dxp = dx + t * plane;
      const T* dyp = dy + t * out;
      const int64_t* ip = indices + t * out;
      std::fill(dxp, dxp + plane, T(0));
      for (int64_t k = 0; k < out; ++k) {
        const uint64_t idx = static_cast<uint64_t>(ip[k]);  // negative -> huge
        if (idx < static_cast<uint64_t>(plane)) dxp[idx] += dyp[k];
        else ++my_bad;
      }
    }
    if (my_bad != 0) {
#pragma omp atomic
      bad += my_bad;
    }
  });
  return bad == 0;
}

template <class T>
void avg_pool2d(const T* x, T* y, const Window& g) {
  const T size = static_cast<T>(g.kh * g.kw);
  parallel_for(g.n * g.c, plane_grain(g.out_plane() * g.kh * g.kw), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const T* xp = x + t * g.plane();
      T* yp = y + t * g.out_plane();
      for (int64_t i = 0; i < g.oh; ++i) {
        int64_t h0, h1;
        window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
        for (int64_t j = 0; j < g.ow; ++j) {
          int64_t w0, w1;
          window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
          T s = T(0);
          for (int64_t hh = h0; hh < h1; ++hh)
            for (int64_t ww = w0; ww < w1; ++ww) s += xp[hh * g.w + ww];
          yp[i * g.ow + j] = s / size;
        }
      }
    }
  });
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Window& g) {
  const T size = static_cast<T>(g.kh * g.kw);
  parallel_for(g.n * g.c, plane_grain(g.out_plane() * g.kh * g.kw), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      T* dxp = dx + t * g.plane();
      const T* dyp = dy + t * g.out_plane();
      std::fill(dxp, dxp + g.plane(), T(0));
      for (int64_t i = 0; i < g.oh; ++i) {
        int64_t h0, h1;
        window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
        for (int64_t j = 0; j < g.ow; ++j) {
          int64_t w0, w1;
          window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
          const T share = dyp[i * g.ow + j] / size;
          for (int64_t hh = h0; hh < h1; ++hh)
            for (int64_t ww = w0; ww < w1; ++ww) dxp[hh * g.w + ww] += share;
        }
      }
    }
  });
}

#define PK_INSTANTIATE(T)                                                                \
  template void max_pool2d<T>(const T*, T*, int64_t*, const Window&);                   \
  template bool max_pool2d_backward<T>(const T*, const int64_t*, T*, int64_t, int64_t, int64_t); \
  template void avg_pool2d<T>(const T*, T*, const Window&);                             \
  template void avg_pool2d_backward<T>(const T*, T*, const Window&);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cpu
