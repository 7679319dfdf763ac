#include "rnn.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace pk::bind {

namespace {

struct RnnDims {
  py::ssize_t steps, n, in, hidden;
};

// Checks dtypes and shapes of the arrays both directions share; returns the sizes.
RnnDims rnn_dims(DType dt, const py::array& x, const py::array& h0, const py::array& w_ih, const py::array& w_hh,
                 const char* op) {
  same_dtype(dt, h0, op, "h0");
  same_dtype(dt, w_ih, op, "w_ih");
  same_dtype(dt, w_hh, op, "w_hh");
  if (x.ndim() != 3) throw py::value_error(std::string(op) + ": argument 'x' must be 3-D (T, N, I)");
  if (w_hh.ndim() != 2) throw py::value_error(std::string(op) + ": argument 'w_hh' must be 2-D (H, H)");
  const RnnDims d{x.shape(0), x.shape(1), x.shape(2), w_hh.shape(0)};
  if (d.steps < 1) throw py::value_error(std::string(op) + ": the sequence must have T >= 1 steps");
  expect_shape(w_hh, {d.hidden, d.hidden}, op, "w_hh");
  expect_shape(w_ih, {d.hidden, d.in}, op, "w_ih");
  expect_shape(h0, {d.n, d.hidden}, op, "h0");
  return d;
}

py::array rnn_forward(const py::array& x, const py::array& h0, const py::array& w_ih, const py::array& w_hh,
                      const py::array& b) {
  const char* op = "rnn_forward";
  const DType dt = float_dtype(x, op, "x");
  const RnnDims d = rnn_dims(dt, x, h0, w_ih, w_hh, op);
  same_dtype(dt, b, op, "b");
  expect_shape(b, {d.hidden}, op, "b");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> hs = empty<T>({d.steps, d.n, d.hidden});
    T* out = hs.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::rnn_forward<T>(cdata<T>(x), cdata<T>(h0), cdata<T>(w_ih), cdata<T>(w_hh), cdata<T>(b), out, d.steps,
                              d.n, d.in, d.hidden);
    }
    return std::move(hs);
  });
}

py::tuple rnn_backward(const py::array& dhs, const py::array& x, const py::array& hs, const py::array& h0,
                       const py::array& w_ih, const py::array& w_hh, const py::object& truncate) {
  const char* op = "rnn_backward";
  const DType dt = float_dtype(x, op, "x");
  const RnnDims d = rnn_dims(dt, x, h0, w_ih, w_hh, op);
  same_dtype(dt, dhs, op, "dhs");
  same_dtype(dt, hs, op, "hs");
  expect_shape(dhs, {d.steps, d.n, d.hidden}, op, "dhs");
  expect_shape(hs, {d.steps, d.n, d.hidden}, op, "hs");
  int64_t k = -1;
  if (!truncate.is_none()) {
    k = truncate.cast<int64_t>();
    if (k < 0) throw py::value_error("rnn_backward: argument 'truncate' must be None or an int >= 0");
  }
  return dispatch(dt, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> dx = empty<T>({d.steps, d.n, d.in});
    py::array_t<T> dh0 = empty<T>({d.n, d.hidden});
    py::array_t<T> dw_ih = empty<T>({d.hidden, d.in});
    py::array_t<T> dw_hh = empty<T>({d.hidden, d.hidden});
    py::array_t<T> db = empty<T>({d.hidden});
    T *p_dx = dx.mutable_data(), *p_dh0 = dh0.mutable_data(), *p_dw_ih = dw_ih.mutable_data();
    T *p_dw_hh = dw_hh.mutable_data(), *p_db = db.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::rnn_backward<T>(cdata<T>(dhs), cdata<T>(x), cdata<T>(hs), cdata<T>(h0), cdata<T>(w_ih),
                               cdata<T>(w_hh), k, p_dx, p_dh0, p_dw_ih, p_dw_hh, p_db, d.steps, d.n, d.in, d.hidden);
    }
    return py::make_tuple(dx, dh0, dw_ih, dw_hh, db);
  });
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("rnn_forward", &rnn_forward, py::arg("x"), py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b"));
  m.def("rnn_backward", &rnn_backward, py::arg("dhs"), py::arg("x"), py::arg("hs"), py::arg("h0"), py::arg("w_ih"),
        py::arg("w_hh"), py::kw_only(), py::arg("truncate") = py::none());
}

}  // namespace pk::bind
