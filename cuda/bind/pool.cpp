// Bindings of max/avg pooling (cuda/pool.cu): dtype code + device pointers + the window geometry
// (N, C, H, W, KH, KW, sh, sw, ph, pw) in; the Python layer (pykernels/backends/cuda/pool.py)
// validates, allocates and copies.
#include <pybind11/stl.h>

#include "bind/bind.h"
#include "bind/window.h"
#include "pool.cuh"

namespace pk::cuda::bind {

void bind_pool(py::module_& m) {
  m.def(
      "max_pool2d",
      [](const std::string& dtype, uintptr_t x, uintptr_t y, uintptr_t indices, const Geometry& geometry) {
        const Window g = window_of(geometry, "max_pool2d", true);
        dispatch(dtype_of(dtype, "max_pool2d"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::max_pool2d<T>(ptr<const T>(x), ptr<T>(y), ptr<int64_t>(indices), g);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("y"), py::arg("indices"), py::arg("geometry"),
      "y, indices (int64) = window maxima of x and their positions h*W + w");
  m.def(
      "max_pool2d_backward",
      [](const std::string& dtype, uintptr_t dy, uintptr_t indices, uintptr_t dx, int64_t planes, int64_t in_plane,
         int64_t out_plane) {
        const bool ok = dispatch(dtype_of(dtype, "max_pool2d_backward"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          return pk::cuda::max_pool2d_backward<T>(ptr<const T>(dy), ptr<const int64_t>(indices), ptr<T>(dx), planes,
                                                  in_plane, out_plane);
        });
        if (!ok) throw py::value_error("max_pool2d_backward: argument 'indices' holds a position outside [0, H*W)");
      },
      py::arg("dtype"), py::arg("dy"), py::arg("indices"), py::arg("dx"), py::arg("planes"), py::arg("in_plane"),
      py::arg("out_plane"), "dx = 0, then dx[indices] += dy, plane by plane");
  m.def(
      "avg_pool2d",
      [](const std::string& dtype, uintptr_t x, uintptr_t y, const Geometry& geometry) {
        const Window g = window_of(geometry, "avg_pool2d", true);
        dispatch(dtype_of(dtype, "avg_pool2d"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::avg_pool2d<T>(ptr<const T>(x), ptr<T>(y), g);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("y"), py::arg("geometry"), "y = window sums of x / (KH*KW)");
  m.def(
      "avg_pool2d_backward",
      [](const std::string& dtype, uintptr_t dy, uintptr_t dx, const Geometry& geometry) {
        const Window g = window_of(geometry, "avg_pool2d_backward", true);
        dispatch(dtype_of(dtype, "avg_pool2d_backward"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::avg_pool2d_backward<T>(ptr<const T>(dy), ptr<T>(dx), g);
        });
      },
      py::arg("dtype"), py::arg("dy"), py::arg("dx"), py::arg("geometry"),
      "dx = the shares dy / (KH*KW) of the windows covering each input");
}

}  // namespace pk::cuda::bind
