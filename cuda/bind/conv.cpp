// Bindings of im2col/col2im and conv2d (cuda/im2col.cu, cuda/conv.cu): dtype code + device pointers +
// the window geometry (N, C, H, W, KH, KW, sh, sw, ph, pw) in; the Python layer
// (pykernels/backends/cuda/conv.py) validates, allocates and copies.
#include <pybind11/stl.h>

#include "bind/bind.h"
#include "bind/window.h"
#include "conv.cuh"
#include "im2col.cuh"

namespace pk::cuda::bind {

void bind_conv(py::module_& m) {
  m.def(
      "im2col",
      [](const std::string& dtype, uintptr_t x, uintptr_t cols, const Geometry& geometry) {
        const Window g = window_of(geometry, "im2col");
        dispatch(dtype_of(dtype, "im2col"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::im2col<T>(ptr<const T>(x), ptr<T>(cols), g);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("cols"), py::arg("geometry"),
      "cols (N*OH*OW, C*KH*KW) = the receptive fields of x (N, C, H, W)");
  m.def(
      "col2im",
      [](const std::string& dtype, uintptr_t cols, uintptr_t x, const Geometry& geometry) {
        const Window g = window_of(geometry, "col2im");
        dispatch(dtype_of(dtype, "col2im"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::col2im<T>(ptr<const T>(cols), ptr<T>(x), g);
        });
      },
      py::arg("dtype"), py::arg("cols"), py::arg("x"), py::arg("geometry"),
      "x (N, C, H, W) = the adjoint of im2col applied to cols (written, gather-based)");
  m.def(
      "conv2d",
      [](const std::string& dtype, uintptr_t x, uintptr_t w, uintptr_t b, uintptr_t y, const Geometry& geometry,
         int64_t c_out) {
        const Window g = window_of(geometry, "conv2d");
        dispatch(dtype_of(dtype, "conv2d"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::conv2d<T>(ptr<const T>(x), ptr<const T>(w), ptr<const T>(b), ptr<T>(y), g, c_out);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("w"), py::arg("b"), py::arg("y"), py::arg("geometry"), py::arg("c_out"),
      "y = conv2d(x, w) + b (b = 0: no bias)");
  m.def(
      "conv2d_backward",
      [](const std::string& dtype, uintptr_t dy, uintptr_t x, uintptr_t w, uintptr_t dx, uintptr_t dw, uintptr_t db,
         const Geometry& geometry, int64_t c_out) {
        const Window g = window_of(geometry, "conv2d_backward");
        dispatch(dtype_of(dtype, "conv2d_backward"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::conv2d_backward<T>(ptr<const T>(dy), ptr<const T>(x), ptr<const T>(w), ptr<T>(dx), ptr<T>(dw),
                                       ptr<T>(db), g, c_out);
        });
      },
      py::arg("dtype"), py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("dx"), py::arg("dw"), py::arg("db"),
      py::arg("geometry"), py::arg("c_out"), "dx, dw, db of conv2d for the upstream gradient dy");
}

}  // namespace pk::cuda::bind
