#include <pybind11/numpy.h>

#include <utility>

#include "bind/array.h"
#include "bind/bind.h"
#include "pcg64.h"

namespace pk::bind {

namespace {

// Fills `out` (a writable, C-contiguous float32 or float64 array) with T(fl(u * span) + low) for the
// next out.size doubles u of the NumPy PCG64 state (state, inc), each given as (high, low) 64-bit
// words; returns the advanced state as (high, low).
std::pair<uint64_t, uint64_t> pcg64_uniform(py::array out, uint64_t state_hi, uint64_t state_lo, uint64_t inc_hi,
                                            uint64_t inc_lo, double low, double span) {
  if (!(out.flags() & py::array::c_style) || !out.writeable())
    throw py::value_error("_pcg64_uniform: argument 'out' must be a writable C-contiguous array");
  using u128 = unsigned __int128;
  pk::cpu::Pcg64State s{(static_cast<u128>(state_hi) << 64) | state_lo, (static_cast<u128>(inc_hi) << 64) | inc_lo};
  const int64_t n = out.size();
  if (out.dtype().is(py::dtype::of<float>())) {
    float* p = static_cast<float*>(out.mutable_data());
    py::gil_scoped_release release;
    pk::cpu::pcg64_uniform(&s, n, low, span, p);
  } else if (out.dtype().is(py::dtype::of<double>())) {
    double* p = static_cast<double*>(out.mutable_data());
    py::gil_scoped_release release;
    pk::cpu::pcg64_uniform(&s, n, low, span, p);
  } else {
    throw py::type_error("_pcg64_uniform: argument 'out' must be float32 or float64");
  }
  return {static_cast<uint64_t>(s.state >> 64), static_cast<uint64_t>(s.state)};
}

}  // namespace

void bind_random(py::module_& m) {
  m.def("_pcg64_uniform", &pcg64_uniform, py::arg("out"), py::arg("state_hi"), py::arg("state_lo"),
        py::arg("inc_hi"), py::arg("inc_lo"), py::arg("low"), py::arg("span"),
        "out[:] = (rng.random(out.size) * span + low).astype(out.dtype) for the NumPy PCG64 state (state, inc) "
        "given as 64-bit halves; returns the advanced state's halves (the layers' initialisation).");
}

}  // namespace pk::bind
