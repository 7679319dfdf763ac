// Bindings of the RBM (cuda/rbm.cu) and of the device Philox stream: dtype code + device pointers +
// sizes in; the Python layer (pykernels/backends/cuda/rbm.py) validates, allocates and copies.
#include "bind/bind.h"
#include "rbm.cuh"

namespace pk::cuda::bind {

namespace {

void check_sizes(int64_t n, int64_t nv, int64_t nh, const char* op) {
  if (n < 0 || nv < 0 || nh < 0) throw py::value_error(std::string(op) + ": invalid sizes");
}

}  // namespace

void bind_rbm(py::module_& m) {
  m.def(
      "rbm_hidden_probs",
      [](const std::string& dtype, uintptr_t v, uintptr_t w, uintptr_t c, uintptr_t ph, int64_t n, int64_t nv,
         int64_t nh) {
        check_sizes(n, nv, nh, "rbm_hidden_probs");
        dispatch(dtype_of(dtype, "rbm_hidden_probs"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::rbm_hidden_probs<T>(ptr<const T>(v), ptr<const T>(w), ptr<const T>(c), ptr<T>(ph), n, nv, nh);
        });
      },
      py::arg("dtype"), py::arg("v"), py::arg("w"), py::arg("c"), py::arg("ph"), py::arg("n"), py::arg("nv"),
      py::arg("nh"), "ph = sigmoid(v @ w^T + c)");
  m.def(
      "rbm_visible_probs",
      [](const std::string& dtype, uintptr_t h, uintptr_t w, uintptr_t b, uintptr_t pv, int64_t n, int64_t nv,
         int64_t nh) {
        check_sizes(n, nv, nh, "rbm_visible_probs");
        dispatch(dtype_of(dtype, "rbm_visible_probs"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::rbm_visible_probs<T>(ptr<const T>(h), ptr<const T>(w), ptr<const T>(b), ptr<T>(pv), n, nv, nh);
        });
      },
      py::arg("dtype"), py::arg("h"), py::arg("w"), py::arg("b"), py::arg("pv"), py::arg("n"), py::arg("nv"),
      py::arg("nh"), "pv = sigmoid(h @ w + b)");
  m.def(
      "rbm_gibbs",
      [](const std::string& dtype, uintptr_t v0, uintptr_t w, uintptr_t b, uintptr_t c, int64_t k, uint64_t seed,
         uint64_t counter, uintptr_t vk, uintptr_t hk, int64_t n, int64_t nv, int64_t nh) {
        check_sizes(n, nv, nh, "rbm_gibbs");
        if (k < 0) throw py::value_error("rbm_gibbs: argument 'k' must be >= 0");
        dispatch(dtype_of(dtype, "rbm_gibbs"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::rbm_gibbs<T>(ptr<const T>(v0), ptr<const T>(w), ptr<const T>(b), ptr<const T>(c), k, seed, counter,
                                 ptr<T>(vk), ptr<T>(hk), n, nv, nh);
        });
      },
      py::arg("dtype"), py::arg("v0"), py::arg("w"), py::arg("b"), py::arg("c"), py::arg("k"), py::arg("seed"),
      py::arg("counter"), py::arg("vk"), py::arg("hk"), py::arg("n"), py::arg("nv"), py::arg("nh"),
      "vk, hk after k Gibbs steps from v0 and a final hidden draw");
  m.def(
      "rbm_cd",
      [](const std::string& dtype, uintptr_t v0, uintptr_t w, uintptr_t b, uintptr_t c, int64_t k, uint64_t seed,
         uint64_t counter, uintptr_t chain, uintptr_t dw, uintptr_t db, uintptr_t dc, uintptr_t chain_out, int64_t n,
         int64_t nv, int64_t nh) {
        check_sizes(n, nv, nh, "rbm_cd");
        if (n < 1) throw py::value_error("rbm_cd: the batch is empty (N = 0)");
        if (k < 0) throw py::value_error("rbm_cd: argument 'k' must be >= 0");
        dispatch(dtype_of(dtype, "rbm_cd"), [&](auto tag) {
          using T = decltype(tag);
          py::gil_scoped_release release;
          pk::cuda::rbm_cd<T>(ptr<const T>(v0), ptr<const T>(w), ptr<const T>(b), ptr<const T>(c), k, seed, counter,
                              ptr<const T>(chain), ptr<T>(dw), ptr<T>(db), ptr<T>(dc), ptr<T>(chain_out), n, nv, nh);
        });
      },
      py::arg("dtype"), py::arg("v0"), py::arg("w"), py::arg("b"), py::arg("c"), py::arg("k"), py::arg("seed"),
      py::arg("counter"), py::arg("chain"), py::arg("dw"), py::arg("db"), py::arg("dc"), py::arg("chain_out"),
      py::arg("n"), py::arg("nv"), py::arg("nh"), "CD-k statistics dw, db, dc and the chain's end (chain = 0: from v0)");
  m.def(
      "philox_uniform",
      [](uint64_t seed, uint64_t counter, uintptr_t out, int64_t n) {
        if (n < 0) throw py::value_error("philox_uniform: argument 'n' must be >= 0");
        py::gil_scoped_release release;
        pk::cuda::philox_uniform(seed, counter, ptr<float>(out), n);
      },
      py::arg("seed"), py::arg("counter"), py::arg("out"), py::arg("n"),
      "out (n float32) = the first n uniforms of the (seed, counter) stream");
}

}  // namespace pk::cuda::bind
