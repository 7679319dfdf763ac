// Binding-side helpers: dtype dispatch, raw pointers, output allocation.
// The Python layer (pykernels/ops) validates every argument and hands over C-contiguous float32 or
// float64 arrays of one dtype; these helpers check that cheaply once more so that a caller going
// around the Python layer gets an exception, never a crash.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pk::bind {

namespace py = pybind11;

enum class DType { kF32, kF64 };

// Whether a's dtype is T's (native byte order).  NOTE: by equivalence, not identity: an unpickled or
// copied descriptor is another object with the same meaning.
template <class T>
bool equivalent(const py::array& a) {
  static PyObject* const want = py::dtype::of<T>().release().ptr();
  const py::dtype have = a.dtype();
  return have.ptr() == want || py::detail::npy_api::get().PyArray_EquivTypes_(have.ptr(), want);
}

inline DType float_dtype(const py::array& a, const char* op, const char* name) {
  if (!(a.flags() & py::array::c_style) || !(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    throw py::value_error(std::string(op) + ": argument '" + name + "' must be C-contiguous and aligned");
  }
  if (equivalent<float>(a)) return DType::kF32;
  if (equivalent<double>(a)) return DType::kF64;
  throw py::type_error(std::string(op) + ": argument '" + name + "' must be float32 or float64, got " +
                       std::string(py::str(a.dtype())));
}

// All arrays must share `dt`.
inline void same_dtype(DType dt, const py::array& a, const char* op, const char* name) {
  if (float_dtype(a, op, name) != dt) {
    throw py::type_error(std::string(op) + ": argument '" + name + "' has a different float dtype");
  }
}

inline void expect_int64(const py::array& a, const char* op, const char* name) {
  if (!(a.flags() & py::array::c_style) || !(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) ||
      !equivalent<int64_t>(a)) {
    throw py::type_error(std::string(op) + ": argument '" + name + "' must be a C-contiguous, aligned int64 array");
  }
}

template <class T>
const T* cdata(const py::array& a) { return static_cast<const T*>(a.data()); }

template <class T>
T* mdata(py::array& a) { return static_cast<T*>(a.mutable_data()); }

// NOTE: built with explicit C strides: py::array_t<T>(shape) turns an empty shape into (1,), not ().
template <class T>
py::array_t<T> empty(const std::vector<py::ssize_t>& shape) {
  std::vector<py::ssize_t> strides(shape.size());
  py::ssize_t stride = sizeof(T);
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return py::array_t<T>(shape, strides);
}

inline std::vector<py::ssize_t> shape_of(const py::array& a) {
  return std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim());
}

// `a` must have exactly `shape` (a ValueError naming the argument otherwise).
inline void expect_shape(const py::array& a, const std::vector<py::ssize_t>& shape, const char* op, const char* name) {
  if (shape_of(a) != shape) {
    std::string want = "(";
    for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
    throw py::value_error(std::string(op) + ": argument '" + name + "' must have shape " + want + ")");
  }
}

// Calls f(T{}) with T = float or double.
template <class F>
decltype(auto) dispatch(DType dt, F&& f) {
  if (dt == DType::kF32) return f(float{});
  return f(double{});
}

}  // namespace pk::bind
