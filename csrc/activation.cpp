#include "activation.h"

#include <cmath>
#include <type_traits>

#include "common/cpu_features.h"
#include "common/parallel.h"

#define PK_ISA_NS generic
#include "activation_kernels.inc"
#undef PK_ISA_NS

namespace pk::cpu {

namespace avx2 {
void sigmoid_f32(const float* x, float* y, int64_t n);
void tanh_f32(const float* x, float* y, int64_t n);
}  // namespace avx2
namespace avx512 {
void sigmoid_f32(const float* x, float* y, int64_t n);
void tanh_f32(const float* x, float* y, int64_t n);
}  // namespace avx512

namespace {
constexpr int64_t kGrain = 1 << 15;

template <class F>
void elementwise(int64_t n, F&& f) {
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) f(i);
  });
}
}  // namespace

namespace {

using VecFn = void (*)(const float*, float*, int64_t);

// The float32 loop for the instruction set in use, split over threads.
void run_f32(VecFn avx512_fn, VecFn avx2_fn, VecFn generic_fn, const float* x, float* y, int64_t n) {
  const Isa isa = active_isa();
  const VecFn fn = isa == Isa::kAvx512 ? avx512_fn : isa == Isa::kAvx2 ? avx2_fn : generic_fn;
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) { fn(x + i0, y + i0, i1 - i0); });
}

}  // namespace

template <class T>
void sigmoid(const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    run_f32(avx512::sigmoid_f32, avx2::sigmoid_f32, generic::sigmoid_f32, x, y, n);
  } else {
    elementwise(n, [&](int64_t i) { y[i] = sigmoid_scalar(x[i]); });
  }
}

template <class T>
void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n) {
  elementwise(n, [&](int64_t i) { dx[i] = dy[i] * y[i] * (T(1) - y[i]); });
}

template <class T>
void tanh(const T* x, T* y, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    run_f32(avx512::tanh_f32, avx2::tanh_f32, generic::tanh_f32, x, y, n);
  } else {
    elementwise(n, [&](int64_t i) { y[i] = std::tanh(x[i]); });
  }
}

template <class T>
void tanh_backward(const T* y, const T* dy, T* dx, int64_t n) {
  elementwise(n, [&](int64_t i) { dx[i] = dy[i] * (T(1) - y[i] * y[i]); });
}

template <class T>
void relu(const T* x, T* y, int64_t n) {
  // NOTE: NaN must propagate (as torch.relu does), so no max(x, 0): NaN > 0 is false.
  elementwise(n, [&](int64_t i) { y[i] = (x[i] > T(0) || x[i] != x[i]) ? x[i] : T(0); });
}

template <class T>
void relu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  // NOTE: dy is loaded whatever the sign of x, so that the loop is a select the compiler vectorises
  // (a load under the condition stays a branch, mispredicted on half the units: 20x slower).
  elementwise(n, [&](int64_t i) {
    const T d = dy[i];
    dx[i] = x[i] > T(0) ? d : T(0);
  });
}

#define PK_INSTANTIATE(T)                                                 \
  template void sigmoid<T>(const T*, T*, int64_t);                        \
  template void sigmoid_backward<T>(const T*, const T*, T*, int64_t);     \
  template void tanh<T>(const T*, T*, int64_t);                           \
  template void tanh_backward<T>(const T*, const T*, T*, int64_t);        \
  template void relu<T>(const T*, T*, int64_t);                           \
  template void relu_backward<T>(const T*, const T*, T*, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cpu
