// Gather of a strided device array into contiguous memory.
#include "copy.cuh"

#include "common.cuh"

namespace pk::cuda {

namespace {

constexpr int kThreads = 256;

struct Layout {
  int ndim;
  int64_t shape[kMaxCopyDims];
  int64_t strides[kMaxCopyDims];  // bytes
};

// Thread mapping: output element i per global thread, grid-stride.
template <class U>
__global__ void __launch_bounds__(kThreads) gather_strided(const char* __restrict__ src, U* __restrict__ dst, int64_t n,
                                                           Layout layout) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t rem = i, offset = 0;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t idx = rem % layout.shape[d];
      rem /= layout.shape[d];
      offset += idx * layout.strides[d];
    }
    dst[i] = *reinterpret_cast<const U*>(src + offset);
  }
}

template <class U>
void run(const void* src, void* dst, int64_t n, const Layout& layout) {
  int64_t blocks = ceil_div(n, kThreads);
  if (blocks > 1024) blocks = 1024;
  launch(gather_strided<U>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), static_cast<const char*>(src),
         static_cast<U*>(dst), n, layout);
}

}  // namespace

void copy_strided(const void* src, void* dst, int itemsize, int ndim, const int64_t* shape, const int64_t* strides) {
  if (ndim < 0 || ndim > kMaxCopyDims) throw std::invalid_argument("copy_strided: at most 8 dimensions");
  Layout layout{};
  layout.ndim = ndim;
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) {
    layout.shape[d] = shape[d];
    layout.strides[d] = strides[d];
    n *= shape[d];
  }
  if (n <= 0) return;
  switch (itemsize) {
    case 1: run<uint8_t>(src, dst, n, layout); break;
    case 2: run<uint16_t>(src, dst, n, layout); break;
    case 4: run<uint32_t>(src, dst, n, layout); break;
    case 8: run<uint64_t>(src, dst, n, layout); break;
    default: throw std::invalid_argument("copy_strided: element size must be 1, 2, 4 or 8 bytes");
  }
}

}  // namespace pk::cuda
