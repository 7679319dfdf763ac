#include "im2col.cuh"

#include "grid.cuh"

namespace pk::cuda {

namespace {

// One thread per patch-matrix entry (grid-stride), taken in the order of the output layout so that
// neighbouring threads write neighbouring addresses.
template <class T>
__global__ void im2col_kernel(const T* x, T* cols, Window g, int64_t images, bool pixel_major) {
  const int64_t pix = g.out_plane(), patch = g.patch(), width = images * pix;
  const int64_t total = width * patch;
  PK_GRID_STRIDE_LOOP(e, total) {
    const int64_t r = pixel_major ? e % patch : e / width;
    const int64_t col = pixel_major ? e / patch : e % width;
    const int64_t image = col / pix, i = (col % pix) / g.ow, j = col % g.ow;
    const int64_t q = r % g.kw, p = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
    const int64_t hh = i * g.sh - g.ph + p, ww = j * g.sw - g.pw + q;
    const bool inside = hh >= 0 && hh < g.h && ww >= 0 && ww < g.w;
    cols[e] = inside ? x[((image * g.c + c) * g.h + hh) * g.w + ww] : T(0);
  }
}

// One thread per input element (grid-stride): sums the patch entries that read it, kernel rows p
// then columns q ascending (the order of the CPU's col2im, hence the same rounding).
template <class T>
__global__ void col2im_kernel(const T* cols, T* x, Window g, int64_t images, bool pixel_major) {
  const int64_t pix = g.out_plane(), patch = g.patch(), width = images * pix;
  const int64_t total = images * g.image();
  PK_GRID_STRIDE_LOOP(e, total) {
    const int64_t ww = e % g.w, hh = (e / g.w) % g.h, c = (e / g.plane()) % g.c, image = e / g.image();
    const int64_t hp = hh + g.ph, wp = ww + g.pw;  // position in the padded input, >= 0
    T sum = T(0);
    // Kernel row p covers this row from output row i = (hp - p) / sh when sh divides hp - p.
    for (int64_t p = hp % g.sh; p < g.kh && p <= hp; p += g.sh) {
      const int64_t i = (hp - p) / g.sh;
      if (i >= g.oh) continue;
      for (int64_t q = wp % g.sw; q < g.kw && q <= wp; q += g.sw) {
        const int64_t j = (wp - q) / g.sw;
        if (j >= g.ow) continue;
        const int64_t r = (c * g.kh + p) * g.kw + q, col = image * pix + i * g.ow + j;
        sum += pixel_major ? cols[col * patch + r] : cols[r * width + col];
      }
    }
    x[e] = sum;
  }
}

}  // namespace

template <class T>
void im2col_images(const T* x, T* cols, const Window& g, int64_t images, PatchLayout layout) {
  const int64_t total = images * g.out_plane() * g.patch();
  launch(im2col_kernel<T>, grid_1d(total), dim3(kBlock), x, cols, g, images, layout == PatchLayout::kPixelMajor);
}

template <class T>
void col2im_images(const T* cols, T* x, const Window& g, int64_t images, PatchLayout layout) {
  const int64_t total = images * g.image();
  launch(col2im_kernel<T>, grid_1d(total), dim3(kBlock), cols, x, g, images, layout == PatchLayout::kPixelMajor);
}

template <class T>
void im2col(const T* x, T* cols, const Window& g) {
  im2col_images(x, cols, g, g.n, PatchLayout::kPixelMajor);
}

template <class T>
void col2im(const T* cols, T* x, const Window& g) {
  col2im_images(cols, x, g, g.n, PatchLayout::kPixelMajor);
}

#define PK_INSTANTIATE(T)                                                                        \
  template void im2col_images<T>(const T*, T*, const Window&, int64_t, PatchLayout);             \
  template void col2im_images<T>(const T*, T*, const Window&, int64_t, PatchLayout);             \
  template void im2col<T>(const T*, T*, const Window&);                                          \
  template void col2im<T>(const T*, T*, const Window&);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cuda
