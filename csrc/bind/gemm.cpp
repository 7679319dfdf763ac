#include <pybind11/numpy.h>

#include "bind/array.h"
#include "bind/bind.h"
#include "gemm.h"

namespace pk::bind {

namespace {

py::array gemm_py(const py::array& a, const py::array& b, const py::object& c, double alpha, double beta,
                  bool trans_a, bool trans_b) {
  const char* op = "gemm";
  const DType dt = float_dtype(a, op, "a");
  same_dtype(dt, b, op, "b");
  if (a.ndim() != 2 || b.ndim() != 2) throw py::value_error("gemm: 'a' and 'b' must be 2-D");
  const int64_t m = trans_a ? a.shape(1) : a.shape(0);
  const int64_t k = trans_a ? a.shape(0) : a.shape(1);
  const int64_t kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t n = trans_b ? b.shape(0) : b.shape(1);
  if (k != kb) throw py::value_error("gemm: inner dimensions of op(a) and op(b) differ");
  const bool use_c = !c.is_none() && beta != 0.0;
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> out = empty<T>({m, n});
    T* o = out.mutable_data();
    if (use_c) {
      py::array ca = c.cast<py::array>();
      same_dtype(dt, ca, op, "c");
      if (ca.ndim() != 2 || ca.shape(0) != m || ca.shape(1) != n) throw py::value_error("gemm: 'c' must be (M, N)");
      std::copy(cdata<T>(ca), cdata<T>(ca) + m * n, o);
    }
    {
      py::gil_scoped_release release;
      pk::cpu::gemm<T>(trans_a, trans_b, m, n, k, static_cast<T>(alpha), cdata<T>(a), a.shape(1), cdata<T>(b),
                       b.shape(1), use_c ? static_cast<T>(beta) : T(0), o, n);
    }
    return std::move(out);
  });
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("c") = py::none(), py::kw_only(),
        py::arg("alpha") = 1.0, py::arg("beta") = 0.0, py::arg("trans_a") = false, py::arg("trans_b") = false);
}

}  // namespace pk::bind
