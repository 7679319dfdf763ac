// Binding of pk::cuda::gemm (cuda/gemm.cu). Pattern for every family: dtype code + device pointers +
// sizes in, GIL released around the launcher, CUDA failures raise RuntimeError.
#include "bind/bind.h"
#include "gemm.cuh"

namespace pk::cuda::bind {

void bind_gemm(py::module_& m) {
  m.def(
      "gemm",
      [](const std::string& dtype, bool trans_a, bool trans_b, int64_t mm, int64_t n, int64_t k, double alpha,
         uintptr_t a, int64_t lda, uintptr_t b, int64_t ldb, double beta, uintptr_t c, int64_t ldc) {
        dispatch(dtype_of(dtype, "gemm"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::gemm<T>(trans_a, trans_b, mm, n, k, static_cast<T>(alpha), ptr<const T>(a), lda, ptr<const T>(b),
                            ldb, static_cast<T>(beta), ptr<T>(c), ldc);
        });
      },
      py::arg("dtype"), py::arg("trans_a"), py::arg("trans_b"), py::arg("m"), py::arg("n"), py::arg("k"),
      py::arg("alpha"), py::arg("a"), py::arg("lda"), py::arg("b"), py::arg("ldb"), py::arg("beta"), py::arg("c"),
      py::arg("ldc"), "C (m x n) = alpha * op(A) @ op(B) + beta * C on device pointers (see cuda/gemm.cuh)");
}

}  // namespace pk::cuda::bind
