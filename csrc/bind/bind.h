// One registration function per op family; each lives in csrc/bind/<family>.cpp.
#pragma once
#include <pybind11/pybind11.h>

namespace pk::bind {
void bind_info(pybind11::module_& m);
void bind_gemm(pybind11::module_& m);
void bind_activation(pybind11::module_& m);
void bind_softmax(pybind11::module_& m);
void bind_conv(pybind11::module_& m);
void bind_pool(pybind11::module_& m);
void bind_rnn(pybind11::module_& m);
void bind_rbm(pybind11::module_& m);
void bind_random(pybind11::module_& m);
}  // namespace pk::bind
