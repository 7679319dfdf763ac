#include "pool.h"

#include "bind/array.h"
#include "bind/bind.h"
#include "bind/window.h"

namespace pk::bind {

namespace {

py::tuple max_pool2d_py(const py::array& x, const py::object& kernel_size, const py::object& stride,
                        const py::object& padding) {
  const char* op = "max_pool2d";
  const DType dt = float_dtype(x, op, "x");
  check_ndim(x, 4, op, "x");
  const pk::cpu::Window g = pool_window_arg(nchw(x), kernel_size, stride, padding, op, "x");
  return dispatch(dt, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> y = empty<T>({g.n, g.c, g.oh, g.ow});
    py::array_t<int64_t> indices = empty<int64_t>({g.n, g.c, g.oh, g.ow});
    T* yp = y.mutable_data();
    int64_t* ip = indices.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::max_pool2d<T>(cdata<T>(x), yp, ip, g);
    }
    return py::make_tuple(y, indices);
  });
}

py::array max_pool2d_backward_py(const py::array& dy, const py::array& indices, const py::object& x_shape) {
  const char* op = "max_pool2d_backward";
  const DType dt = float_dtype(dy, op, "dy");
  check_ndim(dy, 4, op, "dy");
  expect_int64(indices, op, "indices");
  const auto shape = shape_arg(x_shape, op);
  if (shape_of(indices) != shape_of(dy)) throw py::value_error(arg_error(op, "indices", "must have the shape of 'dy'"));
  if (dy.shape(0) != shape[0] || dy.shape(1) != shape[1]) {
    throw py::value_error(arg_error(op, "dy", "must have the N and C of 'x_shape'"));
  }
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> dx = empty<T>({shape[0], shape[1], shape[2], shape[3]});
    T* dxp = dx.mutable_data();
    bool ok;
    {
      py::gil_scoped_release release;
      ok = pk::cpu::max_pool2d_backward<T>(cdata<T>(dy), cdata<int64_t>(indices), dxp, shape[0] * shape[1],
                                           shape[2] * shape[3], dy.shape(2) * dy.shape(3));
    }
    if (!ok) throw py::value_error(arg_error(op, "indices", "holds a position outside [0, H*W)"));
    return std::move(dx);
  });
}

py::array avg_pool2d_py(const py::array& x, const py::object& kernel_size, const py::object& stride,
                        const py::object& padding) {
  const char* op = "avg_pool2d";
  const DType dt = float_dtype(x, op, "x");
  check_ndim(x, 4, op, "x");
  const pk::cpu::Window g = pool_window_arg(nchw(x), kernel_size, stride, padding, op, "x");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> y = empty<T>({g.n, g.c, g.oh, g.ow});
    T* yp = y.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::avg_pool2d<T>(cdata<T>(x), yp, g);
    }
    return std::move(y);
  });
}

py::array avg_pool2d_backward_py(const py::array& dy, const py::object& x_shape, const py::object& kernel_size,
                                 const py::object& stride, const py::object& padding) {
  const char* op = "avg_pool2d_backward";
  const DType dt = float_dtype(dy, op, "dy");
  check_ndim(dy, 4, op, "dy");
  const auto shape = shape_arg(x_shape, op);
  const pk::cpu::Window g = pool_window_arg(shape, kernel_size, stride, padding, op, "x_shape");
  if (nchw(dy) != std::array<int64_t, 4>{g.n, g.c, g.oh, g.ow}) {
    throw py::value_error(arg_error(op, "dy", "must have shape (N, C, OH, OW)"));
  }
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> dx = empty<T>({g.n, g.c, g.h, g.w});
    T* dxp = dx.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::avg_pool2d_backward<T>(cdata<T>(dy), dxp, g);
    }
    return std::move(dx);
  });
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d", &max_pool2d_py, py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(),
        py::arg("padding") = 0);
  m.def("max_pool2d_backward", &max_pool2d_backward_py, py::arg("dy"), py::arg("indices"), py::arg("x_shape"));
  m.def("avg_pool2d", &avg_pool2d_py, py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(),
        py::arg("padding") = 0);
  m.def("avg_pool2d_backward", &avg_pool2d_backward_py, py::arg("dy"), py::arg("x_shape"), py::arg("kernel_size"),
        py::arg("stride") = py::none(), py::arg("padding") = 0);
}

}  // namespace pk::bind
