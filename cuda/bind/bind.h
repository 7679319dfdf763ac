// Bindings of the CUDA kernels, compiled into both pykernels._cuda (real device) and
// pykernels._cudasim (the emulator, where device memory is host memory).
//
// The native functions take device pointers (Python ints), sizes and a dtype code ('f' float32,
// 'd' float64); the Python layer (pykernels/backends/cuda) validates, allocates and copies. Every
// function that runs a kernel releases the GIL; a CUDA failure raises RuntimeError.
//
// PLUG-IN POINT for a new op family <fam>: write cuda/<fam>.cu (+ .cuh) and cuda/bind/<fam>.cpp
// defining `void pk::cuda::bind::bind_<fam>(py::module_&)` (see gemm.cpp for the pattern). The
// families below are declared weak: module.cpp registers the ones that are linked in, so adding a
// family needs no edit here or in module.cpp (the globs in cuda/CMakeLists.txt pick the files up).
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

namespace pk::cuda::bind {

namespace py = pybind11;

void bind_runtime(py::module_& m);
void bind_gemm(py::module_& m);
void bind_activation(py::module_& m);
void bind_softmax(py::module_& m);
__attribute__((weak)) void bind_conv(py::module_& m);
__attribute__((weak)) void bind_pool(py::module_& m);
__attribute__((weak)) void bind_rnn(py::module_& m);
__attribute__((weak)) void bind_rbm(py::module_& m);
#if PK_CUDA_SIM
void bind_sim_tests(py::module_& m);  // test-only kernels of the emulator (cuda/sim/)
#endif

// A device pointer handed over from Python.
template <class T>
T* ptr(uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

enum class DType { kF32, kF64 };

inline DType dtype_of(const std::string& code, const char* op) {
  if (code == "f") return DType::kF32;
  if (code == "d") return DType::kF64;
  throw py::type_error(std::string(op) + ": dtype code must be 'f' (float32) or 'd' (float64), got '" + code + "'");
}

// Calls f(T{}) with T = float or double.
template <class F>
decltype(auto) dispatch(DType dt, F&& f) {
  if (dt == DType::kF32) return f(float{});
  return f(double{});
}

}  // namespace pk::cuda::bind
