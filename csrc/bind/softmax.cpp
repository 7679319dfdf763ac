#include <string>

#include "bind/array.h"
#include "bind/bind.h"
#include "softmax.h"

namespace pk::bind {

namespace {

enum class Reduction { kMean, kSum, kNone };

Reduction parse_reduction(const std::string& r, const char* op) {
  if (r == "mean") return Reduction::kMean;
  if (r == "sum") return Reduction::kSum;
  if (r == "none") return Reduction::kNone;
  throw py::value_error(std::string(op) + ": argument 'reduction' must be 'mean', 'sum' or 'none', got '" + r + "'");
}

void check_2d(const py::array& x, const char* op, const char* name) {
  if (x.ndim() != 2) throw py::value_error(std::string(op) + ": argument '" + name + "' must be 2-D");
}

// Returns (labels, soft) pointers for a target that is int64 labels (n,) or float probabilities (n, k).
template <class T>
void target_ptrs(const py::array& target, DType dt, int64_t n, int64_t k, const char* op, const int64_t** labels,
                 const T** soft) {
  *labels = nullptr;
  *soft = nullptr;
  if (target.dtype().kind() == 'i') {
    expect_int64(target, op, "target");
    if (target.ndim() != 1 || target.shape(0) != n) throw py::value_error(std::string(op) + ": labels must be (N,)");
    const int64_t* l = cdata<int64_t>(target);
    for (int64_t i = 0; i < n; ++i) {
      if (l[i] < 0 || l[i] >= k) throw py::value_error(std::string(op) + ": label out of range [0, K)");
    }
    *labels = l;
  } else {
    same_dtype(dt, target, op, "target");
    if (target.ndim() != 2 || target.shape(0) != n || target.shape(1) != k) {
      throw py::value_error(std::string(op) + ": soft targets must be (N, K)");
    }
    *soft = cdata<T>(target);
  }
}

template <void (*Kernel)(const float*, float*, int64_t, int64_t), void (*KernelD)(const double*, double*, int64_t, int64_t)>
py::array rowwise(const py::array& x, const char* op) {
  const DType dt = float_dtype(x, op, "x");
  check_2d(x, op, "x");
  const int64_t n = x.shape(0), k = x.shape(1);
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> y = empty<T>({n, k});
    T* yp = y.mutable_data();
    {
      py::gil_scoped_release release;
      if constexpr (std::is_same_v<T, float>) Kernel(cdata<T>(x), yp, n, k);
      else KernelD(cdata<T>(x), yp, n, k);
    }
    return std::move(y);
  });
}

py::tuple sce(const py::array& logits, const py::array& target, const std::string& reduction) {
  const char* op = "softmax_cross_entropy";
  const Reduction red = parse_reduction(reduction, op);
  const DType dt = float_dtype(logits, op, "logits");
  check_2d(logits, op, "logits");
  const int64_t n = logits.shape(0), k = logits.shape(1);
  if (red != Reduction::kNone && n == 0) throw py::value_error(std::string(op) + ": reduction over an empty batch");
  return dispatch(dt, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    const int64_t* labels;
    const T* soft;
    target_ptrs<T>(target, dt, n, k, op, &labels, &soft);
    py::array_t<T> loss = empty<T>({n});
    py::array_t<T> probs = empty<T>({n, k});
    T* lp = loss.mutable_data();
    T* pp = probs.mutable_data();
    double total = 0.0;
    {
      py::gil_scoped_release release;
      pk::cpu::softmax_cross_entropy<T>(cdata<T>(logits), labels, soft, lp, pp, n, k);
      if (red != Reduction::kNone) {
        for (int64_t i = 0; i < n; ++i) total += static_cast<double>(lp[i]);
        if (red == Reduction::kMean) total /= static_cast<double>(n);
      }
    }
    if (red == Reduction::kNone) return py::make_tuple(loss, probs);
    py::array_t<T> scalar = empty<T>({});
    *scalar.mutable_data() = static_cast<T>(total);
    return py::make_tuple(scalar[py::tuple()], probs);
  });
}

py::array sce_backward(const py::array& probs, const py::array& target, const std::string& reduction,
                       const py::object& dloss) {
  const char* op = "softmax_cross_entropy_backward";
  const Reduction red = parse_reduction(reduction, op);
  const DType dt = float_dtype(probs, op, "probs");
  check_2d(probs, op, "probs");
  const int64_t n = probs.shape(0), k = probs.shape(1);
  if (red != Reduction::kNone && n == 0) throw py::value_error(std::string(op) + ": reduction over an empty batch");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    const int64_t* labels;
    const T* soft;
    target_ptrs<T>(target, dt, n, k, op, &labels, &soft);
    py::array_t<T> scale_holder;
    const T* scale;
    T one_scale;
    if (red == Reduction::kNone) {
      scale_holder = dloss.cast<py::array>();
      same_dtype(dt, scale_holder, op, "dloss");
      if (scale_holder.ndim() != 1 || scale_holder.shape(0) != n) throw py::value_error(std::string(op) + ": dloss must be (N,)");
      scale = scale_holder.data();
    } else {
      const double d = dloss.cast<double>();
      one_scale = static_cast<T>(red == Reduction::kMean ? d / static_cast<double>(n) : d);
      scale = &one_scale;
    }
    py::array_t<T> dlogits = empty<T>({n, k});
    T* dp = dlogits.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::softmax_cross_entropy_backward<T>(cdata<T>(probs), labels, soft, scale, red == Reduction::kNone, dp, n, k);
    }
    return std::move(dlogits);
  });
}

}  // namespace

void bind_softmax(py::module_& m) {
  m.def("softmax", [](const py::array& x) { return rowwise<pk::cpu::softmax<float>, pk::cpu::softmax<double>>(x, "softmax"); },
        py::arg("x"));
  m.def("log_softmax",
        [](const py::array& x) { return rowwise<pk::cpu::log_softmax<float>, pk::cpu::log_softmax<double>>(x, "log_softmax"); },
        py::arg("x"));
  m.def("softmax_cross_entropy", &sce, py::arg("logits"), py::arg("target"), py::kw_only(),
        py::arg("reduction") = "mean");
  m.def("softmax_cross_entropy_backward", &sce_backward, py::arg("probs"), py::arg("target"), py::kw_only(),
        py::arg("reduction") = "mean", py::arg("dloss") = 1.0);
}

}  // namespace pk::bind
