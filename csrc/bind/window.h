// Binding-side parsing of the arguments that conv and pool share (kernel_size, stride, padding,
// x_shape, NCHW arrays).  The Python layer has validated them already; this re-checks cheaply so
// that a call going around it raises instead of crashing.
#pragma once
#include <array>
#include <string>

#include "bind/array.h"
#include "im2col.h"

namespace pk::bind {

using Pair = std::array<int64_t, 2>;

inline std::string arg_error(const char* op, const char* name, const std::string& what) {
  return std::string(op) + ": argument '" + name + "' " + what;
}

inline int64_t int_arg(const py::handle& v, const char* op, const char* name, int64_t minimum) {
  if (PyBool_Check(v.ptr()) || !PyIndex_Check(v.ptr())) throw py::type_error(arg_error(op, name, "must be an int"));
  const int64_t i = v.cast<int64_t>();
  if (i < minimum) throw py::value_error(arg_error(op, name, "must be >= " + std::to_string(minimum)));
  return i;
}

// An int or an (h, w) pair of ints, each at least `minimum`.
inline Pair pair_arg(const py::object& v, const char* op, const char* name, int64_t minimum) {
  if (!py::isinstance<py::sequence>(v)) {
    const int64_t i = int_arg(v, op, name, minimum);
    return {i, i};
  }
  const py::sequence s = v.cast<py::sequence>();
  if (s.size() != 2) throw py::value_error(arg_error(op, name, "must be an int or an (h, w) pair"));
  return {int_arg(s[0], op, name, minimum), int_arg(s[1], op, name, minimum)};
}

// x_shape: a sequence of four non-negative ints (N, C, H, W).
inline std::array<int64_t, 4> shape_arg(const py::object& v, const char* op) {
  if (!py::isinstance<py::sequence>(v)) throw py::type_error(arg_error(op, "x_shape", "must be a tuple of 4 ints"));
  const py::sequence s = v.cast<py::sequence>();
  if (s.size() != 4) throw py::value_error(arg_error(op, "x_shape", "must have 4 entries (N, C, H, W)"));
  std::array<int64_t, 4> out;
  for (size_t i = 0; i < 4; ++i) out[i] = int_arg(s[i], op, "x_shape", 0);
  return out;
}

inline void check_ndim(const py::array& a, py::ssize_t ndim, const char* op, const char* name) {
  if (a.ndim() != ndim) throw py::value_error(arg_error(op, name, "must be " + std::to_string(ndim) + "-D"));
}

inline std::array<int64_t, 4> nchw(const py::array& a) { return {a.shape(0), a.shape(1), a.shape(2), a.shape(3)}; }

// The window over an input of `shape` (named `name`); the kernel must fit the padded input.
inline pk::cpu::Window window_arg(const std::array<int64_t, 4>& shape, Pair k, Pair s, Pair p, const char* op,
                                  const char* name) {
  if (k[0] > shape[2] + 2 * p[0] || k[1] > shape[3] + 2 * p[1]) {
    throw py::value_error(std::string(op) + ": the kernel is larger than the padded input '" + name + "'");
  }
  return pk::cpu::make_window(shape[0], shape[1], shape[2], shape[3], k[0], k[1], s[0], s[1], p[0], p[1]);
}

// Pooling: stride None means the kernel size; the padding is at most half the kernel.
inline pk::cpu::Window pool_window_arg(const std::array<int64_t, 4>& shape, const py::object& kernel_size,
                                       const py::object& stride, const py::object& padding, const char* op,
                                       const char* name) {
  const Pair k = pair_arg(kernel_size, op, "kernel_size", 1);
  const Pair s = stride.is_none() ? k : pair_arg(stride, op, "stride", 1);
  const Pair p = pair_arg(padding, op, "padding", 0);
  if (2 * p[0] > k[0] || 2 * p[1] > k[1]) throw py::value_error(arg_error(op, "padding", "must be at most half the kernel"));
  return window_arg(shape, k, s, p, op, name);
}

}  // namespace pk::bind
