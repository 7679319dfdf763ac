#include "bind/bind.h"

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "pykernels C++ CPU kernels (private: use pykernels.<op>(..., backend='cpu'))";
  pk::bind::bind_info(m);
  pk::bind::bind_gemm(m);
  pk::bind::bind_activation(m);
  pk::bind::bind_softmax(m);
  pk::bind::bind_conv(m);
  pk::bind::bind_pool(m);
  pk::bind::bind_rnn(m);
  pk::bind::bind_rbm(m);
  pk::bind::bind_random(m);
}
