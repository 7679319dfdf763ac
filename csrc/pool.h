// 2-D max and average pooling on the CPU; the math is stated in pykernels/reference/pool.py.
// All arrays are C-contiguous: x and dx (N, C, H, W), y, dy and indices (N, C, OH, OW); the window
// geometry is in `g` (im2col.h), with 2*ph <= KH and 2*pw <= KW so that every window meets the input.
#pragma once
#include <cstdint>

#include "im2col.h"

namespace pk::cpu {

// y = window maxima, indices = their positions h*W + w in the input plane (torch's tie and NaN rule).
template <class T>
void max_pool2d(const T* x, T* y, int64_t* indices, const Window& g);

// For each of `planes` (= N*C) planes: dx = 0, then dx[indices] += dy, with dy and indices holding
// out_plane (= OH*OW) and dx in_plane (= H*W) entries per plane; one plane per task (deterministic).
// Returns false, leaving dx partly written, when an index lies outside [0, in_plane).
template <class T>
bool max_pool2d_backward(const T* dy, const int64_t* indices, T* dx, int64_t planes, int64_t in_plane,
                         int64_t out_plane);

// y = window sums / (KH*KW), zero padding included.
template <class T>
void avg_pool2d(const T* x, T* y, const Window& g);

// dx = 0, then every window's dy / (KH*KW) added to the inputs it covers, one plane per task.
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Window& g);

}  // namespace pk::cpu
