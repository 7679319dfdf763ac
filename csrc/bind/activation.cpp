#include "activation.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace pk::bind {

namespace {

// y = f(x) elementwise, for the forward ops.
template <template <class> class Kernel>
py::array unary(const py::array& x, const char* op) {
  const DType dt = float_dtype(x, op, "x");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> y = empty<T>(shape_of(x));
    const int64_t n = x.size();
    T* yp = y.mutable_data();
    {
      py::gil_scoped_release release;
      Kernel<T>::run(cdata<T>(x), yp, n);
    }
    return std::move(y);
  });
}

// dx = f'(saved, dy), for the backward ops.
template <template <class> class Kernel>
py::array binary(const py::array& saved, const py::array& dy, const char* op, const char* saved_name) {
  const DType dt = float_dtype(saved, op, saved_name);
  same_dtype(dt, dy, op, "dy");
  if (shape_of(saved) != shape_of(dy)) throw py::value_error(std::string(op) + ": shapes differ");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> dx = empty<T>(shape_of(dy));
    const int64_t n = dy.size();
    T* dxp = dx.mutable_data();
    {
      py::gil_scoped_release release;
      Kernel<T>::run(cdata<T>(saved), cdata<T>(dy), dxp, n);
    }
    return std::move(dx);
  });
}

#define PK_KERNEL(name, args, call) \
  template <class T>                \
  struct name##_k {                 \
    static void run args { call; }  \
  };
PK_KERNEL(sigmoid, (const T* x, T* y, int64_t n), pk::cpu::sigmoid<T>(x, y, n))
PK_KERNEL(tanh, (const T* x, T* y, int64_t n), pk::cpu::tanh<T>(x, y, n))
PK_KERNEL(relu, (const T* x, T* y, int64_t n), pk::cpu::relu<T>(x, y, n))
PK_KERNEL(sigmoid_backward, (const T* s, const T* dy, T* dx, int64_t n), pk::cpu::sigmoid_backward<T>(s, dy, dx, n))
PK_KERNEL(tanh_backward, (const T* s, const T* dy, T* dx, int64_t n), pk::cpu::tanh_backward<T>(s, dy, dx, n))
PK_KERNEL(relu_backward, (const T* s, const T* dy, T* dx, int64_t n), pk::cpu::relu_backward<T>(s, dy, dx, n))
#undef PK_KERNEL

}  // namespace

void bind_activation(py::module_& m) {
  m.def("sigmoid", [](const py::array& x) { return unary<sigmoid_k>(x, "sigmoid"); }, py::arg("x"));
  m.def("tanh", [](const py::array& x) { return unary<tanh_k>(x, "tanh"); }, py::arg("x"));
  m.def("relu", [](const py::array& x) { return unary<relu_k>(x, "relu"); }, py::arg("x"));
  m.def("sigmoid_backward",
        [](const py::array& y, const py::array& dy) { return binary<sigmoid_backward_k>(y, dy, "sigmoid_backward", "y"); },
        py::arg("y"), py::arg("dy"));
  m.def("tanh_backward",
        [](const py::array& y, const py::array& dy) { return binary<tanh_backward_k>(y, dy, "tanh_backward", "y"); },
        py::arg("y"), py::arg("dy"));
  m.def("relu_backward",
        [](const py::array& x, const py::array& dy) { return binary<relu_backward_k>(x, dy, "relu_backward", "x"); },
        py::arg("x"), py::arg("dy"));
}

}  // namespace pk::bind
