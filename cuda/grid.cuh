// One-dimensional launch configuration for element-wise kernels with grid-stride loops.
#pragma once
#include <algorithm>
#include <cstdint>

#include "common.cuh"

namespace pk::cuda {

constexpr int kBlock = 256;
// Beyond this many blocks the grid-stride loops give each thread several elements, so no problem
// size runs into a grid-dimension limit.
constexpr int64_t kMaxBlocks = 4096;

inline dim3 grid_1d(int64_t total) {
  return dim3(static_cast<unsigned>(std::min(ceil_div(total, kBlock), kMaxBlocks)));
}

}  // namespace pk::cuda

// Grid-stride loop over [0, total) with a 64-bit index.
#define PK_GRID_STRIDE_LOOP(e, total)                                                                       \
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < (total);                \
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
