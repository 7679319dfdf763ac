#include "pool.h"

#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

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

// Output columns [*j0, *j1) whose window lies inside the input columns (j*sw - pw >= 0 and
// j*sw - pw + kw <= w); only the columns outside need the clipped scalar loops.
inline void inside_columns(const Window& g, int64_t* j0, int64_t* j1) {
  *j0 = std::min(g.ow, (g.pw + g.sw - 1) / g.sw);
  *j1 = std::max(*j0, std::min(g.ow, (g.w - g.kw + g.pw) / g.sw + 1));
}

}  // namespace

// Window maximum of output (i, j) by the scalar rule, for the columns next to the padding.
// Strict '>' keeps the first maximum; a NaN always takes over, so the last NaN wins (torch's CPU
// rule).  Padding (-inf) is never looked at: the scan starts at -inf on the first input element.
template <class T>
inline void max_window(const T* xp, const Window& g, int64_t h0, int64_t h1, int64_t j, T* y, int64_t* index) {
  int64_t w0, w1;
  window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
  T best = -std::numeric_limits<T>::infinity();
  int64_t arg = h0 * g.w + w0;
  for (int64_t hh = h0; hh < h1; ++hh) {
    for (int64_t ww = w0; ww < w1; ++ww) {
      const T v = xp[hh * g.w + ww];
      const bool take = (v > best) | (v != v);
      best = take ? v : best;
      arg = take ? hh * g.w + ww : arg;
    }
  }
  *y = best;
  *index = arg;
}

// The same rule for the columns [j0, j1) whose windows lie inside the input columns, one window
// element at a time across the whole row, so that the j loop vectorises.  Positions are kept in an
// integer as wide as T (lanes line up with the values) and widened to int64 at the end.
template <class T, class I>
void max_row_inside(const T* xp, const Window& g, int64_t h0, int64_t h1, int64_t j0, int64_t j1, T* best, I* arg) {
  const int64_t sw = g.sw;
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t pos = h0 * g.w + j * sw - g.pw;
    best[j] = xp[pos];
    arg[j] = static_cast<I>(pos);
  }
  for (int64_t hh = h0; hh < h1; ++hh) {
    for (int64_t q = (hh == h0 ? 1 : 0); q < g.kw; ++q) {
      const int64_t base = hh * g.w + q - g.pw;
      const T* src = xp + base + j0 * sw;
      const I first = static_cast<I>(base + j0 * sw);
      for (int64_t j = 0; j < j1 - j0; ++j) {
        const T v = src[j * sw];
        const bool take = (v > best[j0 + j]) | (v != v);
        best[j0 + j] = take ? v : best[j0 + j];
        arg[j0 + j] = take ? static_cast<I>(first + j * sw) : arg[j0 + j];
      }
    }
  }
}

// 2x2 windows, stride 2, no padding (the usual CNN pooling): the four candidates of a window are
// compared in registers in window order, so the j loop vectorises with no passes over scratch.
template <class T, class I>
void max_row_2x2(const T* r0, const T* r1, int64_t row0, int64_t w, int64_t ow, T* best_out, I* arg) {
  for (int64_t j = 0; j < ow; ++j) {
    const I p00 = static_cast<I>(row0 + 2 * j);
    T best = r0[2 * j];
    I pos = p00;
    const T cand[3] = {r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
    const I cand_pos[3] = {static_cast<I>(p00 + 1), static_cast<I>(p00 + w), static_cast<I>(p00 + w + 1)};
    for (int k = 0; k < 3; ++k) {
      const bool take = (cand[k] > best) | (cand[k] != cand[k]);
      best = take ? cand[k] : best;
      pos = take ? cand_pos[k] : pos;
    }
    best_out[j] = best;
    arg[j] = pos;
  }
}

template <class T>
void max_pool2d(const T* x, T* y, int64_t* indices, const Window& g) {
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  int64_t j0, j1;
  inside_columns(g, &j0, &j1);
  const bool fits = g.plane() <= std::numeric_limits<I>::max();
  const bool two_by_two = fits && g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
  parallel_for(g.n * g.c, plane_grain(g.out_plane() * g.kh * g.kw), [&](int64_t t0, int64_t t1) {
    std::vector<I> arg(static_cast<size_t>(g.ow));
    for (int64_t t = t0; t < t1; ++t) {
      const T* xp = x + t * g.plane();
      T* yp = y + t * g.out_plane();
      int64_t* ip = indices + t * g.out_plane();
      for (int64_t i = 0; i < g.oh; ++i) {
        int64_t h0, h1;
        window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
        T* yrow = yp + i * g.ow;
        int64_t* irow = ip + i * g.ow;
        if (two_by_two) {
          max_row_2x2(xp + 2 * i * g.w, xp + (2 * i + 1) * g.w, 2 * i * g.w, g.w, g.ow, yrow, arg.data());
          for (int64_t j = 0; j < g.ow; ++j) irow[j] = arg[j];
          continue;
        }
        const int64_t inside_end = fits ? j1 : j0;
        for (int64_t j = 0; j < j0; ++j) max_window(xp, g, h0, h1, j, yrow + j, irow + j);
        if (inside_end > j0) {
          max_row_inside(xp, g, h0, h1, j0, inside_end, yrow, arg.data());
          for (int64_t j = j0; j < inside_end; ++j) irow[j] = arg[j];
        }
        for (int64_t j = inside_end; j < g.ow; ++j) max_window(xp, g, h0, h1, j, yrow + j, irow + j);
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

// Average pooling works row by row like max pooling: clipped scalar windows at the edges, and for
// the inside columns one pass per window element across the row (vectorisable), in the same
// (row, column) order as the scalar loop.
template <class T>
void avg_pool2d(const T* x, T* y, const Window& g) {
  const T size = static_cast<T>(g.kh * g.kw);
  int64_t j0, j1;
  inside_columns(g, &j0, &j1);
  parallel_for(g.n * g.c, plane_grain(g.out_plane() * g.kh * g.kw), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const T* xp = x + t * g.plane();
      for (int64_t i = 0; i < g.oh; ++i) {
        int64_t h0, h1;
        window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
        T* yrow = y + t * g.out_plane() + i * g.ow;
        auto window_sum = [&](int64_t j) {
          int64_t w0, w1;
          window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
          T s = T(0);
          for (int64_t hh = h0; hh < h1; ++hh)
            for (int64_t ww = w0; ww < w1; ++ww) s += xp[hh * g.w + ww];
          yrow[j] = s / size;
        };
        for (int64_t j = 0; j < j0; ++j) window_sum(j);
        std::fill(yrow + j0, yrow + j1, T(0));
        for (int64_t hh = h0; hh < h1 && j0 < j1; ++hh) {
          for (int64_t q = 0; q < g.kw; ++q) {
            const T* src = xp + hh * g.w + (j0 * g.sw - g.pw + q);
            for (int64_t j = 0; j < j1 - j0; ++j) yrow[j0 + j] += src[j * g.sw];
          }
        }
        for (int64_t j = j0; j < j1; ++j) yrow[j] /= size;
        for (int64_t j = j1; j < g.ow; ++j) window_sum(j);
      }
    }
  });
}

template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Window& g) {
  const T size = static_cast<T>(g.kh * g.kw);
  int64_t j0, j1;
  inside_columns(g, &j0, &j1);
  parallel_for(g.n * g.c, plane_grain(g.out_plane() * g.kh * g.kw), [&](int64_t t0, int64_t t1) {
    std::vector<T> share(static_cast<size_t>(g.ow));
    for (int64_t t = t0; t < t1; ++t) {
      T* dxp = dx + t * g.plane();
      std::fill(dxp, dxp + g.plane(), T(0));
      for (int64_t i = 0; i < g.oh; ++i) {
        int64_t h0, h1;
        window_span(i, g.sh, g.ph, g.kh, g.h, &h0, &h1);
        const T* dyrow = dy + t * g.out_plane() + i * g.ow;
        for (int64_t j = 0; j < g.ow; ++j) share[j] = dyrow[j] / size;
        auto spread = [&](int64_t j) {
          int64_t w0, w1;
          window_span(j, g.sw, g.pw, g.kw, g.w, &w0, &w1);
          for (int64_t hh = h0; hh < h1; ++hh)
            for (int64_t ww = w0; ww < w1; ++ww) dxp[hh * g.w + ww] += share[j];
        };
        for (int64_t j = 0; j < j0; ++j) spread(j);
        // Within one pass the targets j*sw + q are distinct, so the j loop has no conflicts.
        for (int64_t hh = h0; hh < h1 && j0 < j1; ++hh) {
          for (int64_t q = 0; q < g.kw; ++q) {
            T* dst = dxp + hh * g.w + (j0 * g.sw - g.pw + q);
            const T* sh = share.data() + j0;
            for (int64_t j = 0; j < j1 - j0; ++j) dst[j * g.sw] += sh[j];
          }
        }
        for (int64_t j = j1; j < g.ow; ++j) spread(j);
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
