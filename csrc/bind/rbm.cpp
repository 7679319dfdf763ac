#include "rbm.h"

#include "bind/array.h"
#include "bind/bind.h"

namespace pk::bind {

namespace {

struct RbmDims {
  py::ssize_t n, nv, nh;
};

// `v` (n, nv) or `h` (n, nh) against w (nh, nv) and the biases given; returns the sizes.
RbmDims rbm_dims(DType dt, const py::array& batch, bool visible, const py::array& w, const py::array* b,
                 const py::array* c, const char* op, const char* batch_name) {
  same_dtype(dt, w, op, "w");
  if (w.ndim() != 2) throw py::value_error(std::string(op) + ": argument 'w' must be 2-D (n_hidden, n_visible)");
  if (batch.ndim() != 2) throw py::value_error(std::string(op) + ": argument '" + batch_name + "' must be 2-D");
  const RbmDims d{batch.shape(0), w.shape(1), w.shape(0)};
  expect_shape(batch, {d.n, visible ? d.nv : d.nh}, op, batch_name);
  if (b != nullptr) {
    same_dtype(dt, *b, op, "b");
    expect_shape(*b, {d.nv}, op, "b");
  }
  if (c != nullptr) {
    same_dtype(dt, *c, op, "c");
    expect_shape(*c, {d.nh}, op, "c");
  }
  return d;
}

void check_steps(int64_t k, const char* op) {
  if (k < 0) throw py::value_error(std::string(op) + ": argument 'k' must be >= 0");
}

py::array hidden_probs(const py::array& v, const py::array& w, const py::array& c) {
  const char* op = "rbm_hidden_probs";
  const DType dt = float_dtype(v, op, "v");
  const RbmDims d = rbm_dims(dt, v, true, w, nullptr, &c, op, "v");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> ph = empty<T>({d.n, d.nh});
    T* out = ph.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::rbm_hidden_probs<T>(cdata<T>(v), cdata<T>(w), cdata<T>(c), out, d.n, d.nv, d.nh);
    }
    return std::move(ph);
  });
}

py::array visible_probs(const py::array& h, const py::array& w, const py::array& b) {
  const char* op = "rbm_visible_probs";
  const DType dt = float_dtype(h, op, "h");
  const RbmDims d = rbm_dims(dt, h, false, w, &b, nullptr, op, "h");
  return dispatch(dt, [&](auto tag) -> py::array {
    using T = decltype(tag);
    py::array_t<T> pv = empty<T>({d.n, d.nv});
    T* out = pv.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::rbm_visible_probs<T>(cdata<T>(h), cdata<T>(w), cdata<T>(b), out, d.n, d.nv, d.nh);
    }
    return std::move(pv);
  });
}

py::tuple gibbs(const py::array& v0, const py::array& w, const py::array& b, const py::array& c, int64_t k,
                uint64_t seed, uint64_t counter) {
  const char* op = "rbm_gibbs";
  const DType dt = float_dtype(v0, op, "v0");
  const RbmDims d = rbm_dims(dt, v0, true, w, &b, &c, op, "v0");
  check_steps(k, op);
  return dispatch(dt, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> vk = empty<T>({d.n, d.nv});
    py::array_t<T> hk = empty<T>({d.n, d.nh});
    T *p_vk = vk.mutable_data(), *p_hk = hk.mutable_data();
    {
      py::gil_scoped_release release;
      pk::cpu::rbm_gibbs<T>(cdata<T>(v0), cdata<T>(w), cdata<T>(b), cdata<T>(c), k, seed, counter, p_vk, p_hk, d.n,
                            d.nv, d.nh);
    }
    return py::make_tuple(vk, hk);
  });
}

py::tuple cd(const py::array& v0, const py::array& w, const py::array& b, const py::array& c, int64_t k,
             uint64_t seed, uint64_t counter, const py::object& chain) {
  const char* op = "rbm_cd";
  const DType dt = float_dtype(v0, op, "v0");
  const RbmDims d = rbm_dims(dt, v0, true, w, &b, &c, op, "v0");
  check_steps(k, op);
  if (d.n == 0) throw py::value_error("rbm_cd: the statistics average over an empty batch (N = 0)");
  py::array chain_arr;
  if (!chain.is_none()) {
    chain_arr = chain.cast<py::array>();
    same_dtype(dt, chain_arr, op, "chain");
    expect_shape(chain_arr, {d.n, d.nv}, op, "chain");
  }
  return dispatch(dt, [&](auto tag) -> py::tuple {
    using T = decltype(tag);
    py::array_t<T> dw = empty<T>({d.nh, d.nv});
    py::array_t<T> db = empty<T>({d.nv});
    py::array_t<T> dc = empty<T>({d.nh});
    py::array_t<T> chain_out = empty<T>({d.n, d.nv});
    T *p_dw = dw.mutable_data(), *p_db = db.mutable_data(), *p_dc = dc.mutable_data();
    T* p_out = chain_out.mutable_data();
    const T* p_chain = chain.is_none() ? nullptr : cdata<T>(chain_arr);
    {
      py::gil_scoped_release release;
      pk::cpu::rbm_cd<T>(cdata<T>(v0), cdata<T>(w), cdata<T>(b), cdata<T>(c), k, seed, counter, p_chain, p_dw, p_db,
                         p_dc, p_out, d.n, d.nv, d.nh);
    }
    return py::make_tuple(dw, db, dc, chain_out);
  });
}

py::array philox_uniform(int64_t n, uint64_t seed, uint64_t counter) {
  if (n < 0) throw py::value_error("philox_uniform: argument 'n' must be >= 0");
  py::array_t<float> out = empty<float>({n});
  float* p = out.mutable_data();
  {
    py::gil_scoped_release release;
    pk::cpu::philox_uniform(seed, counter, p, n);
  }
  return std::move(out);
}

}  // namespace

void bind_rbm(py::module_& m) {
  m.def("rbm_hidden_probs", &hidden_probs, py::arg("v"), py::arg("w"), py::arg("c"));
  m.def("rbm_visible_probs", &visible_probs, py::arg("h"), py::arg("w"), py::arg("b"));
  m.def("rbm_gibbs", &gibbs, py::arg("v0"), py::arg("w"), py::arg("b"), py::arg("c"), py::arg("k") = 1, py::kw_only(),
        py::arg("seed"), py::arg("counter") = 0);
  m.def("rbm_cd", &cd, py::arg("v0"), py::arg("w"), py::arg("b"), py::arg("c"), py::arg("k") = 1, py::kw_only(),
        py::arg("seed"), py::arg("counter") = 0, py::arg("chain") = py::none());
  m.def("rbm_visible_path", [] {
    const char* names[] = {"gemm", "amx", "exact"};
    return std::string(names[static_cast<int>(pk::cpu::rbm_visible_path())]);
  }, "How rbm_gibbs / rbm_cd draw the visible units (float32, AVX-512): 'gemm', 'amx' or 'exact' (csrc/rbm.h).");
  m.def(
      "set_rbm_visible_path",
      [](const std::string& name) {
        pk::cpu::RbmVisiblePath path;
        if (name == "gemm") {
          path = pk::cpu::RbmVisiblePath::kGemm;
        } else if (name == "amx") {
          path = pk::cpu::RbmVisiblePath::kAmx;
        } else if (name == "exact") {
          path = pk::cpu::RbmVisiblePath::kExact;
        } else {
          throw py::value_error("set_rbm_visible_path: argument 'name' must be 'gemm', 'amx' or 'exact', got '" + name + "'");
        }
        if (!pk::cpu::set_rbm_visible_path(path))
          throw py::value_error("set_rbm_visible_path: this CPU does not support '" + name + "'");
      },
      py::arg("name"), "Select the visible draw path (for tests and benchmarks).");
  m.def("philox_uniform", &philox_uniform, py::arg("n"), py::arg("seed"), py::arg("counter") = 0,
        "The first n float32 uniforms of the Philox (seed, counter) stream (same as pykernels.random.uniform).");
}

}  // namespace pk::bind
