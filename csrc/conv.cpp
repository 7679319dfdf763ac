#include "conv.h"

#include <algorithm>
#include <memory>

#include "common/parallel.h"
#include "gemm.h"

namespace pk::cpu {

namespace {

// A 1x1 kernel with stride 1 and no padding: an image (C, H*W) is its own patch matrix.
bool patches_are_input(const Window& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Uninitialised scratch memory (every use writes before it reads).
template <class T>
std::unique_ptr<T[]> scratch(int64_t size) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(std::max<int64_t>(size, 1))]);
}

// Sum of n values with eight running partial sums (vectorisable), returned in double.
template <class T>
double plane_sum(const T* v, int64_t n) {
  T acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += v[i + k];
  double s = 0.0;
  for (int k = 0; k < 8; ++k) s += static_cast<double>(acc[k]);
  for (; i < n; ++i) s += static_cast<double>(v[i]);
  return s;
}

}  // namespace

template <class T>
void conv2d(const T* x, const T* w, const T* b, T* y, const Window& g, int64_t c_out) {
  const int64_t patch = g.patch(), pix = g.out_plane();
  const bool direct = patches_are_input(g);
  // Split by image; gemm, called inside the parallel region, then runs on the calling thread.
  parallel_for(g.n, 1, [&](int64_t n0, int64_t n1) {
    auto col = scratch<T>(direct ? 0 : patch * pix);  // this thread's workspace for all its images
    for (int64_t n = n0; n < n1; ++n) {
      const T* xn = x + n * g.c * g.plane();
      if (!direct) im2col_image(xn, col.get(), g, pix, 1, 0, g.c);
      T* yn = y + n * c_out * pix;
      if (b != nullptr) {
        for (int64_t o = 0; o < c_out; ++o) std::fill(yn + o * pix, yn + (o + 1) * pix, b[o]);
      }
      gemm<T>(false, false, c_out, pix, patch, T(1), w, patch, direct ? xn : col.get(), pix,
              b != nullptr ? T(1) : T(0), yn, pix);
    }
  });
}

template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, const Window& g, int64_t c_out) {
  const int64_t patch = g.patch(), pix = g.out_plane(), wsize = c_out * patch;
  const bool direct = patches_are_input(g);

  // db: one output channel per task, images and pixels in a fixed order.
  parallel_for(c_out, 8, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double s = 0.0;
      for (int64_t n = 0; n < g.n; ++n) s += plane_sum(dy + (n * c_out + o) * pix, pix);
      db[o] = static_cast<T>(s);
    }
  });
  if (g.n == 0) {
    std::fill(dw, dw + wsize, T(0));
    return;
  }

  // The batch is cut into `parts` fixed slices of consecutive images; slice k accumulates its dw
  // into its own buffer (slice 0 straight into dw) and the buffers are added in slice order, so
  // the result is the same on every run with the same thread count.
  const int64_t parts = std::min<int64_t>(g.n, max_threads());
  auto partial = scratch<T>((parts - 1) * wsize);
  parallel_for(parts, 1, [&](int64_t k0, int64_t k1) {
    auto col = scratch<T>(direct ? 0 : patch * pix);
    auto dcol = scratch<T>(direct ? 0 : patch * pix);
    for (int64_t k = k0; k < k1; ++k) {
      T* dwk = k == 0 ? dw : partial.get() + (k - 1) * wsize;
      const int64_t first = g.n * k / parts, last = g.n * (k + 1) / parts;
      for (int64_t n = first; n < last; ++n) {
        const T* xn = x + n * g.c * g.plane();
        const T* dyn = dy + n * c_out * pix;
        T* dxn = dx + n * g.c * g.plane();
        if (!direct) im2col_image(xn, col.get(), g, pix, 1, 0, g.c);
        // dw += dy_n (C_out, pix) @ patches_n^T (pix, patch)
        gemm<T>(false, true, c_out, patch, pix, T(1), dyn, pix, direct ? xn : col.get(), pix,
                n == first ? T(0) : T(1), dwk, patch);
        // dpatches_n = w^T (patch, C_out) @ dy_n (C_out, pix), then summed back into dx_n
        if (direct) {
          gemm<T>(true, false, patch, pix, c_out, T(1), w, patch, dyn, pix, T(0), dxn, pix);
        } else {
          gemm<T>(true, false, patch, pix, c_out, T(1), w, patch, dyn, pix, T(0), dcol.get(), pix);
          std::fill(dxn, dxn + g.c * g.plane(), T(0));
          col2im_image(dcol.get(), dxn, g, pix, 1, 0, g.c);
        }
      }
    }
  });
  parallel_for(wsize, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t k = 1; k < parts; ++k) {
      const T* pk = partial.get() + (k - 1) * wsize;
      for (int64_t i = i0; i < i1; ++i) dw[i] += pk[i];
    }
  });
}

#define PK_INSTANTIATE(T)                                                                           \
  template void conv2d<T>(const T*, const T*, const T*, T*, const Window&, int64_t);               \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, const Window&, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cpu
