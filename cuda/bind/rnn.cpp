// Bindings of the tanh RNN (cuda/rnn.cu): dtype code + device pointers + sizes in; the Python layer
// (pykernels/backends/cuda/rnn.py) validates, allocates and copies.
#include "bind/bind.h"
#include "rnn.cuh"

namespace pk::cuda::bind {

void bind_rnn(py::module_& m) {
  m.def(
      "rnn_forward",
      [](const std::string& dtype, uintptr_t x, uintptr_t h0, uintptr_t w_ih, uintptr_t w_hh, uintptr_t b,
         uintptr_t hs, int64_t steps, int64_t n, int64_t in, int64_t hidden) {
        if (steps < 1 || n < 0 || in < 0 || hidden < 0) throw py::value_error("rnn_forward: invalid sizes");
        dispatch(dtype_of(dtype, "rnn_forward"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::rnn_forward<T>(ptr<const T>(x), ptr<const T>(h0), ptr<const T>(w_ih), ptr<const T>(w_hh),
                                   ptr<const T>(b), ptr<T>(hs), steps, n, in, hidden);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"), py::arg("hs"),
      py::arg("steps"), py::arg("n"), py::arg("input_size"), py::arg("hidden"),
      "hs (steps, n, hidden) of the tanh RNN");
  m.def(
      "rnn_backward",
      [](const std::string& dtype, uintptr_t dhs, uintptr_t x, uintptr_t hs, uintptr_t h0, uintptr_t w_ih,
         uintptr_t w_hh, int64_t truncate, uintptr_t dx, uintptr_t dh0, uintptr_t dw_ih, uintptr_t dw_hh, uintptr_t db,
         int64_t steps, int64_t n, int64_t in, int64_t hidden) {
        if (steps < 1 || n < 0 || in < 0 || hidden < 0) throw py::value_error("rnn_backward: invalid sizes");
        dispatch(dtype_of(dtype, "rnn_backward"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::rnn_backward<T>(ptr<const T>(dhs), ptr<const T>(x), ptr<const T>(hs), ptr<const T>(h0),
                                    ptr<const T>(w_ih), ptr<const T>(w_hh), truncate, ptr<T>(dx), ptr<T>(dh0),
                                    ptr<T>(dw_ih), ptr<T>(dw_hh), ptr<T>(db), steps, n, in, hidden);
        });
      },
      py::arg("dtype"), py::arg("dhs"), py::arg("x"), py::arg("hs"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"),
      py::arg("truncate"), py::arg("dx"), py::arg("dh0"), py::arg("dw_ih"), py::arg("dw_hh"), py::arg("db"),
      py::arg("steps"), py::arg("n"), py::arg("input_size"), py::arg("hidden"),
      "dx, dh0, dw_ih, dw_hh, db by BPTT (truncate < 0: exact)");
}

}  // namespace pk::cuda::bind
