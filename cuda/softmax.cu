// Softmax, log-softmax and softmax-cross-entropy with warp and block reductions.
#include "softmax.cuh"

#include "common.cuh"
#include "math.cuh"

namespace pk::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
// Rows up to this many classes get one warp each; longer rows one block each.
constexpr int64_t kWarpRowMax = 1024;

enum class Mode { kSoftmax, kLogSoftmax, kCrossEntropy };

template <class T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Every thread of the block gets the block-wide max (kMax) or sum; all threads must call it.
template <bool kMax, class T>
__device__ __forceinline__ T block_reduce(T v) {
  __shared__ T partial[kWarps];
  __shared__ T result;
  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  v = kMax ? warp_max(v) : warp_sum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    T w = lane < kWarps ? partial[lane] : (kMax ? T(-INFINITY) : T(0));
    w = kMax ? warp_max(w) : warp_sum(w);
    if (lane == 0) result = w;
  }
  __syncthreads();
  const T out = result;
  __syncthreads();  // `result` and `partial` are reused by the next call
  return out;
}

// The work of one row, by `lanes` cooperating threads (lane = 0..lanes-1) with the reduction `reduce`.
template <Mode kMode, class T, class MaxReduce, class SumReduce>
__device__ __forceinline__ void row_op(const T* __restrict__ x, T* __restrict__ y, const int64_t* __restrict__ labels,
                                       const T* __restrict__ soft, T* __restrict__ loss, int64_t row, int64_t k,
                                       int lane, int lanes, MaxReduce max_reduce, SumReduce sum_reduce) {
  const T* xr = x + row * k;
  T* yr = y + row * k;
  T m = T(-INFINITY);
  for (int64_t j = lane; j < k; j += lanes) m = nan_max(m, xr[j]);
  m = max_reduce(m);  // NaN in the row: m is NaN and so is every output
  T s = T(0);
  for (int64_t j = lane; j < k; j += lanes) s += exp_t(xr[j] - m);
  s = sum_reduce(s);
  if (kMode == Mode::kSoftmax) {
    const T inv = T(1) / s;
    for (int64_t j = lane; j < k; j += lanes) yr[j] = exp_t(xr[j] - m) * inv;
    return;
  }
  // log p = x - max - log(sum exp(x - max)): finite even where p underflows to 0.
  const T log_s = log_t(s);
  if (kMode == Mode::kLogSoftmax) {
    for (int64_t j = lane; j < k; j += lanes) yr[j] = (xr[j] - m) - log_s;
    return;
  }
  T acc = T(0);
  const int64_t label = soft ? -1 : labels[row];
  for (int64_t j = lane; j < k; j += lanes) {
    const T logp = (xr[j] - m) - log_s;
    yr[j] = exp_t(logp);
    if (soft) {
      const T t = soft[row * k + j];
      if (t != T(0)) acc -= t * logp;  // a zero target contributes nothing (not 0 * -inf)
    } else if (j == label) {
      acc = -logp;
    }
  }
  acc = sum_reduce(acc);
  if (lane == 0) loss[row] = acc;
}

// Thread mapping: warp w of block b owns row b * kWarps + w; its 32 lanes stride over the classes.
template <Mode kMode, class T>
__global__ void __launch_bounds__(kThreads)
softmax_warp_rows(const T* __restrict__ x, T* __restrict__ y, const int64_t* __restrict__ labels,
                  const T* __restrict__ soft, T* __restrict__ loss, int64_t n, int64_t k) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= n) return;  // the whole warp leaves together
  row_op<kMode>(x, y, labels, soft, loss, row, k, lane, 32, [](T v) { return warp_max(v); },
                [](T v) { return warp_sum(v); });
}

// Thread mapping: block b owns row b; its kThreads threads stride over the classes.
template <Mode kMode, class T>
__global__ void __launch_bounds__(kThreads)
softmax_block_rows(const T* __restrict__ x, T* __restrict__ y, const int64_t* __restrict__ labels,
                   const T* __restrict__ soft, T* __restrict__ loss, int64_t n, int64_t k) {
  (void)n;
  row_op<kMode>(x, y, labels, soft, loss, static_cast<int64_t>(blockIdx.x), k, static_cast<int>(threadIdx.x),
                kThreads, [](T v) { return block_reduce<true>(v); }, [](T v) { return block_reduce<false>(v); });
}

template <Mode kMode, class T>
void rows(const T* x, T* y, const int64_t* labels, const T* soft, T* loss, int64_t n, int64_t k) {
  if (n <= 0 || k <= 0) return;
  if (k <= kWarpRowMax) {
    launch(softmax_warp_rows<kMode, T>, dim3(static_cast<unsigned>(ceil_div(n, kWarps))), dim3(kThreads), x, y,
           labels, soft, loss, n, k);
  } else {
    launch(softmax_block_rows<kMode, T>, dim3(static_cast<unsigned>(n)), dim3(kThreads), x, y, labels, soft, loss, n,
           k);
  }
}

// Thread mapping: one block; thread t sums elements t, t + kThreads, ... then the block reduces.
template <class T>
__global__ void __launch_bounds__(kThreads) sum_scaled_kernel(const T* __restrict__ x, int64_t n, double scale,
                                                              T* __restrict__ out) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += kThreads) s += static_cast<double>(x[i]);
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) *out = static_cast<T>(s * scale);
}

// Thread mapping: element i of the (n, k) output per global thread, grid-stride.
template <class T>
__global__ void __launch_bounds__(kThreads)
sce_backward_kernel(const T* __restrict__ probs, const int64_t* __restrict__ labels, const T* __restrict__ soft,
                    const T* __restrict__ scale_rows, T scale, T* __restrict__ dlogits, int64_t n, int64_t k) {
  const int64_t total = n * k, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int64_t row = i / k, col = i - row * k;
    const T t = soft ? soft[i] : (labels[row] == col ? T(1) : T(0));
    dlogits[i] = (probs[i] - t) * (scale_rows ? scale_rows[row] : scale);
  }
}

}  // namespace

template <class T>
void softmax(const T* x, T* y, int64_t n, int64_t k) {
  rows<Mode::kSoftmax, T>(x, y, nullptr, nullptr, nullptr, n, k);
}

template <class T>
void log_softmax(const T* x, T* y, int64_t n, int64_t k) {
  rows<Mode::kLogSoftmax, T>(x, y, nullptr, nullptr, nullptr, n, k);
}

template <class T>
void softmax_cross_entropy(const T* logits, const int64_t* labels, const T* soft_target, T* loss, T* probs, int64_t n,
                           int64_t k) {
  rows<Mode::kCrossEntropy, T>(logits, probs, labels, soft_target, loss, n, k);
}

template <class T>
void sum_scaled(const T* x, int64_t n, double scale, T* out) {
  launch(sum_scaled_kernel<T>, dim3(1), dim3(kThreads), x, n, scale, out);
}

template <class T>
void softmax_cross_entropy_backward(const T* probs, const int64_t* labels, const T* soft_target, const T* scale_rows,
                                    T scale, T* dlogits, int64_t n, int64_t k) {
  const int64_t total = n * k;
  if (total <= 0) return;
  const int64_t blocks = ceil_div(total, kThreads) < 1024 ? ceil_div(total, kThreads) : 1024;
  launch(sce_backward_kernel<T>, dim3(static_cast<unsigned>(blocks)), dim3(kThreads), probs, labels, soft_target,
         scale_rows, scale, dlogits, n, k);
}

#define PK_INSTANTIATE(T)                                                                                      \
  template void softmax<T>(const T*, T*, int64_t, int64_t);                                                    \
  template void log_softmax<T>(const T*, T*, int64_t, int64_t);                                                \
  template void softmax_cross_entropy<T>(const T*, const int64_t*, const T*, T*, T*, int64_t, int64_t);        \
  template void sum_scaled<T>(const T*, int64_t, double, T*);                                                  \
  template void softmax_cross_entropy_backward<T>(const T*, const int64_t*, const T*, const T*, T, T*, int64_t, \
                                                  int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cuda
