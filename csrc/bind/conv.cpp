#include "conv.h"

#include "bind/array.h"
#include "bind/bind.h"
#include "bind/window.h"
#include "im2col.h"

namespace pk::bind {

namespace {

pk::cpu::Window conv_window(const py::array& x, const py::array& w, const py::object& stride,
                            const py::object& padding, const char* op) {
  check_ndim(x, 4, op, "x");
  check_ndim(w, 4, op, "w");
  if (w.shape(1) != x.shape(1)) throw py::value_error(std::string(op) + ": channels of 'x' and 'w' differ");
  if (w.shape(2) < 1 || w.shape(3) < 1) throw py::value_error(arg_error(op, "w", "must have a kernel of at least 1x1"));
  return window_arg(nchw(x), {w.shape(2), w.shape(3)}, pair_arg(stride, op, "stride", 1),
                    pair_arg(padding, op, "padding", 0), op, "x");
}

py::array im2col_py(const py::array& x, const py::object& kernel_size, const py::object& stride,
                    const py::object& padding) {
  const char* op = "im2col";
  const DType dt = float_dtype(x, op, "x");
  check_ndim(x, 4, op, "x");
  const pk::cpu::Window g = window_arg(nchw(x), pair_arg(kernel_size, op, "kernel_size", 1),
                                       pair_arg(stride, op, "stride", 1), pair_arg(padding, op, "padding", 0), op, "x");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> cols = empty<T>({g.n * g.out_plane(), g.patch()});
    T* cp = cols.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::im2col<T>(cdata<T>(x), cp, g);
    }
    return std::move(cols);
  });
}

py::array col2im_py(const py::array& cols, const py::object& x_shape, const py::object& kernel_size,
                    const py::object& stride, const py::object& padding) {
  const char* op = "col2im";
  const DType dt = float_dtype(cols, op, "cols");
  check_ndim(cols, 2, op, "cols");
  const auto shape = shape_arg(x_shape, op);
  const pk::cpu::Window g = window_arg(shape, pair_arg(kernel_size, op, "kernel_size", 1),
                                       pair_arg(stride, op, "stride", 1), pair_arg(padding, op, "padding", 0), op,
                                       "x_shape");
  if (cols.shape(0) != g.n * g.out_plane() || cols.shape(1) != g.patch()) {
    throw py::value_error(arg_error(op, "cols", "must have shape (N*OH*OW, C*KH*KW)"));
  }
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> x = empty<T>({shape[0], shape[1], shape[2], shape[3]});
    T* xp = x.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::col2im<T>(cdata<T>(cols), xp, g);
    }
    return std::move(x);
  });
}

py::array conv2d_py(const py::array& x, const py::array& w, const py::object& b, const py::object& stride,
                    const py::object& padding) {
  const char* op = "conv2d";
  const DType dt = float_dtype(x, op, "x");
  same_dtype(dt, w, op, "w");
  const pk::cpu::Window g = conv_window(x, w, stride, padding, op);
  const int64_t c_out = w.shape(0);
  py::array bias;
  if (!b.is_none()) {
    bias = b.cast<py::array>();
    same_dtype(dt, bias, op, "b");
    if (bias.ndim() != 1 || bias.shape(0) != c_out) throw py::value_error(arg_error(op, "b", "must have shape (C_out,)"));
  }
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> y = empty<T>({g.n, c_out, g.oh, g.ow});
    T* yp = y.mutable_data();
    const T* bp = b.is_none() ? nullptr : cdata<T>(bias);
    {
      py::gil_scoped_release release;
      pk::cpu::conv2d<T>(cdata<T>(x), cdata<T>(w), bp, yp, g, c_out);
    }
    return std::move(y);
  });
}

py::tuple conv2d_backward_py(const py::array& dy, const py::array& x, const py::array& w, const py::object& stride,
                             const py::object& padding) {
  const char* op = "conv2d_backward";
  const DType dt = float_dtype(dy, op, "dy");
  same_dtype(dt, x, op, "x");
  same_dtype(dt, w, op, "w");
  const pk::cpu::Window g = conv_window(x, w, stride, padding, op);
  const int64_t c_out = w.shape(0);
  check_ndim(dy, 4, op, "dy");
  if (nchw(dy) != std::array<int64_t, 4>{g.n, c_out, g.oh, g.ow}) {
    throw py::value_error(arg_error(op, "dy", "must have shape (N, C_out, OH, OW)"));
  }
  return dispatch(dt, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> dx = empty<T>({g.n, g.c, g.h, g.w});
    py::array_t<T> dw = empty<T>(shape_of(w));
    py::array_t<T> db = empty<T>({c_out});
    T* dxp = dx.mutable_data();
    T* dwp = dw.mutable_data();
    T* dbp = db.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::conv2d_backward<T>(cdata<T>(dy), cdata<T>(x), cdata<T>(w), dxp, dwp, dbp, g, c_out);
    }
    return py::make_tuple(dx, dw, db);
  });
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("im2col", &im2col_py, py::arg("x"), py::arg("kernel_size"), py::arg("stride") = 1, py::arg("padding") = 0);
  m.def("col2im", &col2im_py, py::arg("cols"), py::arg("x_shape"), py::arg("kernel_size"), py::arg("stride") = 1,
        py::arg("padding") = 0);
  m.def("conv2d", &conv2d_py, py::arg("x"), py::arg("w"), py::arg("b") = py::none(), py::arg("stride") = 1,
        py::arg("padding") = 0);
  m.def("conv2d_backward", &conv2d_backward_py, py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("stride") = 1,
        py::arg("padding") = 0);
}

}  // namespace pk::bind
