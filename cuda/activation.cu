// Elementwise activations: grid-stride loops.
#include "activation.cuh"

#include "common.cuh"
#include "math.cuh"

namespace pk::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1024;  // grid-stride beyond: enough blocks to fill any current GPU

struct SigmoidOp {
  template <class T>
  __device__ __forceinline__ T operator()(T x) const { return sigmoid_t(x); }
};
struct TanhOp {
  template <class T>
  __device__ __forceinline__ T operator()(T x) const { return tanh_t(x); }
};
struct ReluOp {  // NaN stays NaN
  template <class T>
  __device__ __forceinline__ T operator()(T x) const { return (x > T(0) || x != x) ? x : T(0); }
};
struct SigmoidBackwardOp {
  template <class T>
  __device__ __forceinline__ T operator()(T y, T dy) const { return dy * y * (T(1) - y); }
};
struct TanhBackwardOp {
  template <class T>
  __device__ __forceinline__ T operator()(T y, T dy) const { return dy * (T(1) - y * y); }
};
struct ReluBackwardOp {  // the subgradient at 0 is 0, as in PyTorch
  template <class T>
  __device__ __forceinline__ T operator()(T x, T dy) const { return x > T(0) ? dy : T(0); }
};

// Thread mapping: element i is handled by global thread i mod (gridDim.x * blockDim.x).
template <class T, class Op>
__global__ void __launch_bounds__(kThreads) unary_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n, Op op) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = op(x[i]);
}

template <class T, class Op>
__global__ void __launch_bounds__(kThreads)
binary_kernel(const T* __restrict__ s, const T* __restrict__ dy, T* __restrict__ dx, int64_t n, Op op) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    dx[i] = op(s[i], dy[i]);
  }
}

dim3 grid_for(int64_t n) {
  int64_t blocks = ceil_div(n, kThreads);
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  return dim3(static_cast<unsigned>(blocks));
}

template <class T, class Op>
void unary(const T* x, T* y, int64_t n) {
  if (n > 0) launch(unary_kernel<T, Op>, grid_for(n), dim3(kThreads), x, y, n, Op{});
}

template <class T, class Op>
void binary(const T* s, const T* dy, T* dx, int64_t n) {
  if (n > 0) launch(binary_kernel<T, Op>, grid_for(n), dim3(kThreads), s, dy, dx, n, Op{});
}

}  // namespace

template <class T> void sigmoid(const T* x, T* y, int64_t n) { unary<T, SigmoidOp>(x, y, n); }
template <class T> void tanh(const T* x, T* y, int64_t n) { unary<T, TanhOp>(x, y, n); }
template <class T> void relu(const T* x, T* y, int64_t n) { unary<T, ReluOp>(x, y, n); }
template <class T> void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n) {
  binary<T, SigmoidBackwardOp>(y, dy, dx, n);
}
template <class T> void tanh_backward(const T* y, const T* dy, T* dx, int64_t n) {
  binary<T, TanhBackwardOp>(y, dy, dx, n);
}
template <class T> void relu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  binary<T, ReluBackwardOp>(x, dy, dx, n);
}

#define PK_INSTANTIATE(T)                                               \
  template void sigmoid<T>(const T*, T*, int64_t);                      \
  template void tanh<T>(const T*, T*, int64_t);                         \
  template void relu<T>(const T*, T*, int64_t);                         \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);   \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t);      \
  template void relu_backward<T>(const T*, const T*, T*, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cuda
