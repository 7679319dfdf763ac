// Elementwise helpers, bias adds, deterministic reductions and fused optimizer updates for the nn
// layer on the device (see tensor.cuh).  Elementwise kernels are grid-stride loops; reductions use a
// fixed element-to-thread assignment and a fixed tree, so results do not depend on timing.
#include "tensor.cuh"

#include <type_traits>

#include "common.cuh"

namespace pk::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1024;

dim3 grid_for(int64_t n) {
  int64_t blocks = ceil_div(n, kThreads);
  if (blocks > kMaxBlocks) blocks = kMaxBlocks;
  if (blocks < 1) blocks = 1;
  return dim3(static_cast<unsigned>(blocks));
}

__device__ __forceinline__ int64_t first_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
template <class T>
__device__ __forceinline__ T sqrt_t(T x) {
  if constexpr (std::is_same_v<T, float>) return ::sqrtf(x);
  else return ::sqrt(x);
}

__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Thread mapping (every elementwise kernel here): element i is handled by global thread i mod
// (gridDim.x * blockDim.x), a grid-stride loop.
template <class T>
__global__ void __launch_bounds__(kThreads) fill_kernel(T* x, T value, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) x[i] = value;
}

// Thread mapping: grid-stride over elements.  No __restrict__: z may alias x or y (each element is
// read and written by one thread).
template <class T>
__global__ void __launch_bounds__(kThreads) axpby_kernel(T alpha, const T* x, T beta, const T* y, T* z, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    T ax = alpha == T(1) ? x[i] : alpha * x[i];  // alpha 1 is an exact copy (no 1 * NaN games)
    z[i] = y ? ax + beta * y[i] : ax;
  }
}

// Thread mapping: grid-stride over the elements of y (N, F); element i adds b[i mod F].
template <class T>
__global__ void __launch_bounds__(kThreads) bias_rows_kernel(T* __restrict__ y, const T* __restrict__ b, int64_t rows,
                                                             int64_t cols) {
  const int64_t n = rows * cols;
  for (int64_t i = first_index(); i < n; i += grid_stride()) y[i] += b[i % cols];
}

// Thread mapping: grid-stride over the elements of y (N, C, H*W); element i adds b[(i / HW) mod C].
template <class T>
__global__ void __launch_bounds__(kThreads) bias_channels_kernel(T* __restrict__ y, const T* __restrict__ b,
                                                                 int64_t n, int64_t c, int64_t hw) {
  const int64_t total = n * c * hw;
  for (int64_t i = first_index(); i < total; i += grid_stride()) y[i] += b[(i / hw) % c];
}

// Thread mapping: one thread per column (grid-stride over columns), rows summed in ascending order
// (the order of a sequential loop, so the result does not depend on the launch).
template <class T>
__global__ void __launch_bounds__(kThreads) column_sums_kernel(T* __restrict__ grad, const T* __restrict__ dy,
                                                               int64_t rows, int64_t cols) {
  for (int64_t j = first_index(); j < cols; j += grid_stride()) {
    T s = T(0);
    for (int64_t i = 0; i < rows; ++i) s += dy[i * cols + j];
    grad[j] += s;
  }
}

// Thread mapping: one block; thread t sums elements t, t + kThreads, ... in order, then a fixed
// shared-memory tree halves the partial sums (deterministic, no atomics).
template <class T>
__global__ void __launch_bounds__(kThreads) sum_squares_kernel(const T* __restrict__ x, int64_t n, T scale,
                                                               T* __restrict__ out) {
  __shared__ T part[kThreads];
  T s = T(0);
  for (int64_t i = threadIdx.x; i < n; i += kThreads) s += x[i] * x[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = part[0] * scale;
}

// Thread mapping: grid-stride over elements.
template <class T>
__global__ void __launch_bounds__(kThreads) clip_kernel(T* x, T limit, int64_t n) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    const T v = x[i];
    x[i] = v > limit ? limit : (v < -limit ? -limit : v);
  }
}

// Thread mapping: one block; thread t scans rows t, t + kThreads, ... and counts its hits, then a
// fixed shared-memory tree adds the counts (integers: exact).
template <class T>
__global__ void __launch_bounds__(kThreads) argmax_hits_kernel(const T* __restrict__ logits,
                                                               const int64_t* __restrict__ labels, int64_t rows,
                                                               int64_t cols, int64_t* __restrict__ hits) {
  __shared__ int64_t part[kThreads];
  int64_t count = 0;
  for (int64_t i = threadIdx.x; i < rows; i += kThreads) {
    const T* row = logits + i * cols;
    T best = row[0];
    int64_t arg = 0;
    for (int64_t j = 1; j < cols; ++j) {
      const T v = row[j];
      if (v > best || (v != v && best == best)) {
        best = v;
        arg = j;
      }
    }
    count += arg == labels[i];
  }
  part[threadIdx.x] = count;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) hits[0] += part[0];
}

// Thread mapping: grid-stride over the parameter's elements; each thread updates p, buf of its own.
template <class T>
__global__ void __launch_bounds__(kThreads) sgd_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ buf,
                                                       int64_t n, T lr, T momentum, T weight_decay, bool first) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    T d = g[i];
    if (weight_decay != T(0)) d = d + weight_decay * p[i];
    if (buf) {
      const T b = first ? d : momentum * buf[i] + d;
      buf[i] = b;
      d = b;
    }
    p[i] -= lr * d;
  }
}

// Thread mapping: grid-stride over the parameter's elements; each thread updates p, m, v of its own.
// The operations follow pykernels/optim/_update.py's order, so cuda-sim matches NumPy's rounding.
template <class T>
__global__ void __launch_bounds__(kThreads) adam_kernel(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                                                        T* __restrict__ v, int64_t n, T beta1, T beta2, T one_m_b1,
                                                        T one_m_b2, T eps, T weight_decay, T step_size,
                                                        T inv_sqrt_bc2) {
  for (int64_t i = first_index(); i < n; i += grid_stride()) {
    T d = g[i];
    if (weight_decay != T(0)) d = d + weight_decay * p[i];
    const T mi = beta1 * m[i] + d * one_m_b1;
    const T vi = beta2 * v[i] + (d * d) * one_m_b2;
    m[i] = mi;
    v[i] = vi;
    const T denom = sqrt_t(vi) * inv_sqrt_bc2 + eps;
    p[i] -= (mi / denom) * step_size;
  }
}

}  // namespace

template <class T>
void tensor_fill(T* x, double value, int64_t n) {
  if (n > 0) launch(fill_kernel<T>, grid_for(n), dim3(kThreads), x, static_cast<T>(value), n);
}

template <class T>
void tensor_axpby(double alpha, const T* x, double beta, const T* y, T* z, int64_t n) {
  if (n > 0) {
    launch(axpby_kernel<T>, grid_for(n), dim3(kThreads), static_cast<T>(alpha), x, static_cast<T>(beta), y, z, n);
  }
}

template <class T>
void tensor_add_bias_rows(T* y, const T* b, int64_t rows, int64_t cols) {
  if (rows > 0 && cols > 0) launch(bias_rows_kernel<T>, grid_for(rows * cols), dim3(kThreads), y, b, rows, cols);
}

template <class T>
void tensor_add_bias_channels(T* y, const T* b, int64_t n, int64_t c, int64_t hw) {
  if (n > 0 && c > 0 && hw > 0) launch(bias_channels_kernel<T>, grid_for(n * c * hw), dim3(kThreads), y, b, n, c, hw);
}

template <class T>
void tensor_accumulate_column_sums(T* grad, const T* dy, int64_t rows, int64_t cols) {
  if (cols > 0) launch(column_sums_kernel<T>, grid_for(cols), dim3(kThreads), grad, dy, rows, cols);
}

template <class T>
void tensor_sum_squares(const T* x, int64_t n, double scale, T* out) {
  launch(sum_squares_kernel<T>, dim3(1), dim3(kThreads), x, n, static_cast<T>(scale), out);
}

template <class T>
void tensor_clip(T* x, double limit, int64_t n) {
  if (n > 0) launch(clip_kernel<T>, grid_for(n), dim3(kThreads), x, static_cast<T>(limit), n);
}

template <class T>
void tensor_argmax_hits(const T* logits, const int64_t* labels, int64_t rows, int64_t cols, int64_t* hits) {
  if (rows > 0 && cols > 0) launch(argmax_hits_kernel<T>, dim3(1), dim3(kThreads), logits, labels, rows, cols, hits);
}

template <class T>
void sgd_update(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, double weight_decay, bool first) {
  if (n > 0) {
    launch(sgd_kernel<T>, grid_for(n), dim3(kThreads), p, g, momentum != 0.0 ? buf : static_cast<T*>(nullptr), n,
           static_cast<T>(lr), static_cast<T>(momentum), static_cast<T>(weight_decay), first);
  }
}

template <class T>
void adam_update(T* p, const T* g, T* m, T* v, int64_t n, double beta1, double beta2, double eps, double weight_decay,
                 double step_size, double inv_sqrt_bc2) {
  if (n > 0) {
    launch(adam_kernel<T>, grid_for(n), dim3(kThreads), p, g, m, v, n, static_cast<T>(beta1), static_cast<T>(beta2),
           static_cast<T>(1.0 - beta1), static_cast<T>(1.0 - beta2), static_cast<T>(eps), static_cast<T>(weight_decay),
           static_cast<T>(step_size), static_cast<T>(inv_sqrt_bc2));
  }
}

#define PK_INSTANTIATE(T)                                                                                     \
  template void tensor_fill<T>(T*, double, int64_t);                                                          \
  template void tensor_axpby<T>(double, const T*, double, const T*, T*, int64_t);                             \
  template void tensor_add_bias_rows<T>(T*, const T*, int64_t, int64_t);                                      \
  template void tensor_add_bias_channels<T>(T*, const T*, int64_t, int64_t, int64_t);                         \
  template void tensor_accumulate_column_sums<T>(T*, const T*, int64_t, int64_t);                             \
  template void tensor_sum_squares<T>(const T*, int64_t, double, T*);                                         \
  template void tensor_clip<T>(T*, double, int64_t);                                                          \
  template void tensor_argmax_hits<T>(const T*, const int64_t*, int64_t, int64_t, int64_t*);                  \
  template void sgd_update<T>(T*, const T*, T*, int64_t, double, double, double, bool);                       \
  template void adam_update<T>(T*, const T*, T*, T*, int64_t, double, double, double, double, double, double);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cuda
