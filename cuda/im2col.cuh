// im2col / col2im on the GPU (device pointers): the patch gather under conv2d and its gather-based
// adjoint.  The math and the public layout are stated in pykernels/reference/conv.py; the CPU twin
// is csrc/im2col.h.
#pragma once
#include <cstdint>

#include "common.cuh"

namespace pk::cuda {

// A KH x KW window sliding with stride (sh, sw) over an NCHW input zero-padded by (ph, pw); the same
// fields as pk::cpu::Window, usable in device code.
struct Window {
  int64_t n, c, h, w;  // input (N, C, H, W)
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t oh, ow;  // output size, (h + 2*ph - kh) / sh + 1 and likewise

  __host__ __device__ int64_t plane() const { return h * w; }
  __host__ __device__ int64_t out_plane() const { return oh * ow; }
  __host__ __device__ int64_t patch() const { return c * kh * kw; }  // C*KH*KW
  __host__ __device__ int64_t image() const { return c * h * w; }
};

// How a patch matrix of `images` consecutive images is laid out; entry (r, col) has patch entry
// r = (c*KH + p)*KW + q and column col = image*OH*OW + i*OW + j (output pixel (i, j)).
enum class PatchLayout {
  kPixelMajor,  // (images*OH*OW, C*KH*KW): the public im2col layout
  kPatchMajor,  // (C*KH*KW, images*OH*OW): the GEMM operand of conv2d
};

// Patch matrix of images x[0 .. images) (x points at the first image's (C, H, W)).
template <class T>
void im2col_images(const T* x, T* cols, const Window& g, int64_t images, PatchLayout layout);

// Adjoint: x[0 .. images) written (not accumulated into) with the sum of every patch entry that
// read it.  Gather-based: each x element sums its terms in a fixed (p, q) order, no atomics.
template <class T>
void col2im_images(const T* cols, T* x, const Window& g, int64_t images, PatchLayout layout);

// Public im2col: x (N, C, H, W) -> cols (N*OH*OW, C*KH*KW).
template <class T>
void im2col(const T* x, T* cols, const Window& g);

// Public col2im: cols (N*OH*OW, C*KH*KW) -> x (N, C, H, W), written.
template <class T>
void col2im(const T* cols, T* x, const Window& g);

}  // namespace pk::cuda
