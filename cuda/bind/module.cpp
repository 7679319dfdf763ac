#include "bind/bind.h"

#define PK_STR2(x) #x
#define PK_STR(x) PK_STR2(x)

PYBIND11_MODULE(PK_CUDA_MODULE, m) {
  namespace b = pk::cuda::bind;
#if PK_CUDA_SIM
  m.doc() = "pykernels CUDA kernels executed by the SIMT emulator (private: use backend='cuda-sim')";
#else
  m.doc() = "pykernels CUDA kernels (private: use backend='cuda')";
#endif
  m.attr("IS_SIM") = bool(PK_CUDA_SIM);
  m.attr("MODULE") = PK_STR(PK_CUDA_MODULE);
  b::bind_runtime(m);
  b::bind_gemm(m);
  b::bind_activation(m);
  b::bind_softmax(m);
  // Families another branch adds; registered when their binding file is linked in.
  pybind11::list families;
  for (auto [name, fn] : {std::pair{"conv", &b::bind_conv}, std::pair{"pool", &b::bind_pool},
                          std::pair{"rnn", &b::bind_rnn}, std::pair{"rbm", &b::bind_rbm}}) {
    if (fn) {
      fn(m);
      families.append(name);
    }
  }
  m.attr("EXTRA_FAMILIES") = families;
#if PK_CUDA_SIM
  b::bind_sim_tests(m);
#endif
}
