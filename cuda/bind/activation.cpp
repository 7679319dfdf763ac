// Bindings of the elementwise activations (cuda/activation.cu).
#include "activation.cuh"
#include "bind/bind.h"

namespace pk::cuda::bind {

namespace {

template <void (*F32)(const float*, float*, int64_t), void (*F64)(const double*, double*, int64_t)>
void def_unary(py::module_& m, const char* name) {
  m.def(
      name,
      [name](const std::string& dtype, uintptr_t x, uintptr_t y, int64_t n) {
        const DType dt = dtype_of(dtype, name);
        py::gil_scoped_release release;
        if (dt == DType::kF32) F32(ptr<const float>(x), ptr<float>(y), n);
        else F64(ptr<const double>(x), ptr<double>(y), n);
      },
      py::arg("dtype"), py::arg("x"), py::arg("y"), py::arg("n"));
}

template <void (*F32)(const float*, const float*, float*, int64_t),
          void (*F64)(const double*, const double*, double*, int64_t)>
void def_binary(py::module_& m, const char* name) {
  m.def(
      name,
      [name](const std::string& dtype, uintptr_t saved, uintptr_t dy, uintptr_t dx, int64_t n) {
        const DType dt = dtype_of(dtype, name);
        py::gil_scoped_release release;
        if (dt == DType::kF32) F32(ptr<const float>(saved), ptr<const float>(dy), ptr<float>(dx), n);
        else F64(ptr<const double>(saved), ptr<const double>(dy), ptr<double>(dx), n);
      },
      py::arg("dtype"), py::arg("saved"), py::arg("dy"), py::arg("dx"), py::arg("n"));
}

}  // namespace

void bind_activation(py::module_& m) {
  def_unary<pk::cuda::sigmoid<float>, pk::cuda::sigmoid<double>>(m, "sigmoid");
  def_unary<pk::cuda::tanh<float>, pk::cuda::tanh<double>>(m, "tanh");
  def_unary<pk::cuda::relu<float>, pk::cuda::relu<double>>(m, "relu");
  def_binary<pk::cuda::sigmoid_backward<float>, pk::cuda::sigmoid_backward<double>>(m, "sigmoid_backward");
  def_binary<pk::cuda::tanh_backward<float>, pk::cuda::tanh_backward<double>>(m, "tanh_backward");
  def_binary<pk::cuda::relu_backward<float>, pk::cuda::relu_backward<double>>(m, "relu_backward");
}

}  // namespace pk::cuda::bind
