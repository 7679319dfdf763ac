// 2-D convolution on the CPU by im2col + GEMM; the math is stated in pykernels/reference/conv.py.
// All arrays are C-contiguous: x (N, C, H, W), w (C_out, C, KH, KW), b and db (C_out,),
// y and dy (N, C_out, OH, OW); the geometry is in `g` (im2col.h).
#pragma once
#include <cstdint>

#include "im2col.h"

namespace pk::cpu {

// y = conv(x, w) + b; b may be null (no bias).
template <class T>
void conv2d(const T* x, const T* w, const T* b, T* y, const Window& g, int64_t c_out);

// dx, dw, db of conv2d for the upstream gradient dy; deterministic for a given thread count.
template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, const Window& g, int64_t c_out);

}  // namespace pk::cpu
