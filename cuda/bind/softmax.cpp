// Bindings of softmax / log_softmax / softmax_cross_entropy (cuda/softmax.cu).
#include "bind/bind.h"
#include "softmax.cuh"

namespace pk::cuda::bind {

void bind_softmax(py::module_& m) {
  m.def(
      "softmax",
      [](const std::string& dtype, uintptr_t x, uintptr_t y, int64_t n, int64_t k) {
        dispatch(dtype_of(dtype, "softmax"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::softmax<T>(ptr<const T>(x), ptr<T>(y), n, k);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("y"), py::arg("n"), py::arg("k"));
  m.def(
      "log_softmax",
      [](const std::string& dtype, uintptr_t x, uintptr_t y, int64_t n, int64_t k) {
        dispatch(dtype_of(dtype, "log_softmax"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::log_softmax<T>(ptr<const T>(x), ptr<T>(y), n, k);
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("y"), py::arg("n"), py::arg("k"));
  m.def(
      "softmax_cross_entropy",
      [](const std::string& dtype, uintptr_t logits, uintptr_t labels, uintptr_t soft, uintptr_t loss, uintptr_t probs,
         int64_t n, int64_t k) {
        dispatch(dtype_of(dtype, "softmax_cross_entropy"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::softmax_cross_entropy<T>(ptr<const T>(logits), ptr<const int64_t>(labels), ptr<const T>(soft),
                                             ptr<T>(loss), ptr<T>(probs), n, k);
        });
      },
      py::arg("dtype"), py::arg("logits"), py::arg("labels"), py::arg("soft"), py::arg("loss"), py::arg("probs"),
      py::arg("n"), py::arg("k"), "labels = 0 for soft targets, soft = 0 for int64 labels");
  m.def(
      "sum_scaled",
      [](const std::string& dtype, uintptr_t x, int64_t n, double scale, uintptr_t out) {
        dispatch(dtype_of(dtype, "sum_scaled"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::sum_scaled<T>(ptr<const T>(x), n, scale, ptr<T>(out));
        });
      },
      py::arg("dtype"), py::arg("x"), py::arg("n"), py::arg("scale"), py::arg("out"));
  m.def(
      "softmax_cross_entropy_backward",
      [](const std::string& dtype, uintptr_t probs, uintptr_t labels, uintptr_t soft, uintptr_t scale_rows,
         double scale, uintptr_t dlogits, int64_t n, int64_t k) {
        dispatch(dtype_of(dtype, "softmax_cross_entropy_backward"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::softmax_cross_entropy_backward<T>(ptr<const T>(probs), ptr<const int64_t>(labels),
                                                      ptr<const T>(soft), ptr<const T>(scale_rows),
                                                      static_cast<T>(scale), ptr<T>(dlogits), n, k);
        });
      },
      py::arg("dtype"), py::arg("probs"), py::arg("labels"), py::arg("soft"), py::arg("scale_rows"), py::arg("scale"),
      py::arg("dlogits"), py::arg("n"), py::arg("k"));
}

}  // namespace pk::cuda::bind
