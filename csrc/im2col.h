// im2col / col2im on the CPU: the shared patch gather/scatter under conv2d and avg pooling.
// The math and the public layout are stated in pykernels/reference/conv.py.
#pragma once
#include <cstdint>

namespace pk::cpu {

// A KH x KW window sliding with stride (sh, sw) over an NCHW input zero-padded by (ph, pw).
struct Window {
  int64_t n, c, h, w;         // input (N, C, H, W)
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t oh, ow;             // output size, (h + 2*ph - kh) / sh + 1 and likewise

  int64_t plane() const { return h * w; }
  int64_t out_plane() const { return oh * ow; }
  int64_t patch() const { return c * kh * kw; }  // C*KH*KW, the length of one receptive field
};

// Fills in oh and ow; the caller has checked kh <= h + 2*ph and kw <= w + 2*pw.
Window make_window(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                   int64_t ph, int64_t pw);

// Patches of one image x (C, H, W): element (r, q) with r = (c*KH + p)*KW + q' (patch entry) and
// q = i*OW + j (output pixel) goes to out[r*rs + q*qs].  rs = OH*OW, qs = 1 is the patch-major
// "Caffe" layout (C*KH*KW, OH*OW); rs = 1, qs = C*KH*KW the pixel-major layout of the public im2col.
// Only channels [c0, c1) are written.
template <class T>
void im2col_image(const T* x, T* out, const Window& g, int64_t rs, int64_t qs, int64_t c0, int64_t c1);

// Adjoint of im2col_image: adds every element of `cols` (same layout) into x (C, H, W), dropping
// those that came from the padding.  Channels [c0, c1) only; x is accumulated into, not cleared.
// Each x element receives its terms in a fixed order, so the result is deterministic.
template <class T>
void col2im_image(const T* cols, T* x, const Window& g, int64_t rs, int64_t qs, int64_t c0, int64_t c1);

// Public im2col: x (N, C, H, W) -> cols (N*OH*OW, C*KH*KW), rows (n, i, j), columns (c, p, q).
template <class T>
void im2col(const T* x, T* cols, const Window& g);

// Public col2im: cols (N*OH*OW, C*KH*KW) -> x (N, C, H, W), written (not accumulated into).
// Parallel over (n, c) planes, each summed by one thread in a fixed order: the result does not
// depend on the thread count.
template <class T>
void col2im(const T* cols, T* x, const Window& g);

}  // namespace pk::cpu
