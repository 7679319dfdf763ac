// 2-D convolution on the GPU by im2col + GEMM (device pointers); the math is stated in
// pykernels/reference/conv.py, the CPU twin is csrc/conv.h.  All arrays are C-contiguous:
// x (N, C, H, W), w (C_out, C, KH, KW), b and db (C_out,), y and dy (N, C_out, OH, OW).
#pragma once
#include <cstdint>

#include "im2col.cuh"

namespace pk::cuda {

// y = conv(x, w) + b; b may be null (no bias).
template <class T>
void conv2d(const T* x, const T* w, const T* b, T* y, const Window& g, int64_t c_out);

// dx, dw, db of conv2d for the upstream gradient dy; deterministic (no atomics, fixed orders).
template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, const Window& g, int64_t c_out);

}  // namespace pk::cuda
