// Device-side copy of a strided (non-contiguous) device array into a C-contiguous one, so that the
// kernels, which take contiguous operands, also accept views of device arrays.
#pragma once
#include <cstdint>

namespace pk::cuda {

constexpr int kMaxCopyDims = 8;

// dst[i] (C order over `shape`) = *(src + sum_d index_d * strides[d]), strides in bytes (may be
// negative), element size 1, 2, 4 or 8 bytes.
void copy_strided(const void* src, void* dst, int itemsize, int ndim, const int64_t* shape, const int64_t* strides);

}  // namespace pk::cuda
