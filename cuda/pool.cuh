// 2-D max and average pooling on the GPU (device pointers); the math is stated in
// pykernels/reference/pool.py, the CPU twin is csrc/pool.h.  All arrays are C-contiguous:
// x and dx (N, C, H, W), y, dy and indices (N, C, OH, OW); 2*ph <= KH and 2*pw <= KW.
#pragma once
#include <cstdint>

#include "im2col.cuh"

namespace pk::cuda {

// y = window maxima, indices = their positions h*W + w in the input plane (torch's tie and NaN rule).
template <class T>
void max_pool2d(const T* x, T* y, int64_t* indices, const Window& g);

// For each of `planes` (= N*C) planes: dx = 0, then dx[indices] += dy in the order of the outputs
// (deterministic, no atomic additions).  Returns false, leaving dx partly written, when an index lies
// outside [0, in_plane) (such entries are skipped, never written).  Synchronises with the device.
template <class T>
bool max_pool2d_backward(const T* dy, const int64_t* indices, T* dx, int64_t planes, int64_t in_plane,
                         int64_t out_plane);

// y = window sums / (KH*KW), zero padding included.
template <class T>
void avg_pool2d(const T* x, T* y, const Window& g);

// dx = the sum of dy / (KH*KW) over the windows covering each input (gathered, no atomics).
template <class T>
void avg_pool2d_backward(const T* dy, T* dx, const Window& g);

}  // namespace pk::cuda
