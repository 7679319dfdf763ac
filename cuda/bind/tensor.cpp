// Bindings of the nn helpers and optimizer updates on the device (cuda/tensor.cu).  Pointers are
// device pointers (0 for an absent optional operand); the Python layer (backends/cuda/tensor.py)
// checks shapes and dtypes.
#include "bind/bind.h"
#include "tensor.cuh"

namespace pk::cuda::bind {

void bind_tensor(py::module_& m) {
  m.def(
      "tensor_fill",
      [](const std::string& dtype, uintptr_t x, double value, int64_t n) {
        dispatch(dtype_of(dtype, "tensor_fill"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_fill<T>(ptr<T>(x), value, n);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("value"), py::arg("n"));
  m.def(
      "tensor_axpby",
      [](const std::string& dtype, double alpha, uintptr_t x, double beta, uintptr_t y, uintptr_t z, int64_t n) {
        dispatch(dtype_of(dtype, "tensor_axpby"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_axpby<T>(alpha, ptr<const T>(x), beta, ptr<const T>(y), ptr<T>(z), n);
        });
      },
      py::arg("dtype"), py::arg("alpha"), py::arg("x"), py::arg("beta"), py::arg("y"), py::arg("z"), py::arg("n"),
      "z = alpha x + beta y (y = 0: z = alpha x)");
  m.def(
      "tensor_add_bias_rows",
      [](const std::string& dtype, uintptr_t y, uintptr_t b, int64_t rows, int64_t cols) {
        dispatch(dtype_of(dtype, "tensor_add_bias_rows"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_add_bias_rows<T>(ptr<T>(y), ptr<const T>(b), rows, cols);
        });
      },
      py::arg("dtype"), py::arg("y"), py::arg("b"), py::arg("rows"), py::arg("cols"));
  m.def(
      "tensor_add_bias_channels",
      [](const std::string& dtype, uintptr_t y, uintptr_t b, int64_t n, int64_t c, int64_t hw) {
        dispatch(dtype_of(dtype, "tensor_add_bias_channels"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_add_bias_channels<T>(ptr<T>(y), ptr<const T>(b), n, c, hw);
        });
      },
      py::arg("dtype"), py::arg("y"), py::arg("b"), py::arg("n"), py::arg("c"), py::arg("hw"));
  m.def(
      "tensor_accumulate_column_sums",
      [](const std::string& dtype, uintptr_t grad, uintptr_t dy, int64_t rows, int64_t cols) {
        dispatch(dtype_of(dtype, "tensor_accumulate_column_sums"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_accumulate_column_sums<T>(ptr<T>(grad), ptr<const T>(dy), rows, cols);
        });
      },
      py::arg("dtype"), py::arg("grad"), py::arg("dy"), py::arg("rows"), py::arg("cols"));
  m.def(
      "tensor_sum_squares",
      [](const std::string& dtype, uintptr_t x, int64_t n, double scale, uintptr_t out) {
        dispatch(dtype_of(dtype, "tensor_sum_squares"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_sum_squares<T>(ptr<const T>(x), n, scale, ptr<T>(out));
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("n"), py::arg("scale"), py::arg("out"));
  m.def(
      "tensor_clip",
      [](const std::string& dtype, uintptr_t x, double limit, int64_t n) {
        dispatch(dtype_of(dtype, "tensor_clip"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_clip<T>(ptr<T>(x), limit, n);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("limit"), py::arg("n"));
  m.def(
      "tensor_argmax_hits",
      [](const std::string& dtype, uintptr_t logits, uintptr_t labels, int64_t rows, int64_t cols, uintptr_t hits) {
        dispatch(dtype_of(dtype, "tensor_argmax_hits"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::tensor_argmax_hits<T>(ptr<const T>(logits), ptr<const int64_t>(labels), rows, cols,
                                          ptr<int64_t>(hits));
        });
      },
      py::arg("dtype"), py::arg("logits"), py::arg("labels"), py::arg("rows"), py::arg("cols"), py::arg("hits"));
  m.def(
      "sgd_update",
      [](const std::string& dtype, uintptr_t p, uintptr_t g, uintptr_t buf, int64_t n, double lr, double momentum,
         double weight_decay, bool first) {
        dispatch(dtype_of(dtype, "sgd_update"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::sgd_update<T>(ptr<T>(p), ptr<const T>(g), ptr<T>(buf), n, lr, momentum, weight_decay, first);
        });
      },
      py::arg("dtype"), py::arg("p"), py::arg("g"), py::arg("buf"), py::arg("n"), py::arg("lr"), py::arg("momentum"),
      py::arg("weight_decay"), py::arg("first"));
  m.def(
      "adam_update",
      [](const std::string& dtype, uintptr_t p, uintptr_t g, uintptr_t mom, uintptr_t vel, int64_t n, double beta1,
         double beta2, double eps, double weight_decay, double step_size, double inv_sqrt_bc2) {
        dispatch(dtype_of(dtype, "adam_update"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::adam_update<T>(ptr<T>(p), ptr<const T>(g), ptr<T>(mom), ptr<T>(vel), n, beta1, beta2, eps,
                                   weight_decay, step_size, inv_sqrt_bc2);
        });
      },
      py::arg("dtype"), py::arg("p"), py::arg("g"), py::arg("m"), py::arg("v"), py::arg("n"), py::arg("beta1"),
      py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("step_size"), py::arg("inv_sqrt_bc2"));
}

}  // namespace pk::cuda::bind
