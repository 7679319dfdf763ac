#include "rbm.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <string>
#include <utility>
#include <vector>

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

// A float32 array of `shape` that the epoch may write (every in-place argument of rbm_fit_epoch).
py::array& epoch_array(py::array& a, const std::vector<py::ssize_t>& shape, bool written, const char* name,
                       const char* op) {
  if (float_dtype(a, op, name) != DType::kF32) throw py::type_error(std::string(op) + ": argument '" + name + "' must be float32");
  expect_shape(a, shape, op, name);
  if (written && !a.writeable()) throw py::value_error(std::string(op) + ": argument '" + name + "' must be writeable");
  return a;
}

// rbm_fit_epoch (kLoop false) and rbm_fit_loop (kLoop true): the same arguments.
template <bool kLoop>
py::object fit_epoch(py::array x, const py::object& order, py::array w, py::array b, py::array c,
                          const py::object& velocity, int64_t batch_size, int64_t k, double lr, double momentum,
                          double weight_decay, uint64_t seed, uint64_t counter, const py::object& chain,
                          const py::object& grads, bool check, int64_t probe) {
  const char* op = kLoop ? "rbm_fit_loop" : "rbm_fit_epoch";
  if (!kLoop && !pk::cpu::rbm_fit_epoch_supported())
    throw py::value_error(std::string(op) + ": this CPU (or the visible path chosen) does not take the fused epoch");
  if (w.ndim() != 2) throw py::value_error(std::string(op) + ": argument 'w' must be 2-D (n_hidden, n_visible)");
  const py::ssize_t nh = w.shape(0), nv = w.shape(1);
  if (x.ndim() != 2) throw py::value_error(std::string(op) + ": argument 'x' must be 2-D");
  const py::ssize_t rows = x.shape(0);
  epoch_array(x, {rows, nv}, false, "x", op);
  epoch_array(w, {nh, nv}, true, "w", op);
  epoch_array(b, {nv}, true, "b", op);
  epoch_array(c, {nh}, true, "c", op);
  if (batch_size < 1) throw py::value_error(std::string(op) + ": argument 'batch_size' must be >= 1");
  if (k < 1) throw py::value_error(std::string(op) + ": argument 'k' must be >= 1");
  if (probe < 0 || probe > rows) throw py::value_error(std::string(op) + ": argument 'probe' must be in [0, len(x)]");
  if (!std::isfinite(lr) || !std::isfinite(momentum) || !std::isfinite(weight_decay))
    throw py::value_error(std::string(op) + ": lr, momentum and weight_decay must be finite");
  pk::cpu::RbmEpoch e{};
  std::vector<std::pair<const char*, std::pair<const char*, const char*>>> spans;  // written arrays' bytes
  std::deque<std::string> labels;  // names made for the spans (a deque: push_back keeps them in place)
  auto span = [&](py::array& a, const char* name) {
    const char* p = static_cast<const char*>(a.data());
    spans.push_back({name, {p, p + a.nbytes()}});
  };
  py::array order_arr;
  if (!order.is_none()) {
    order_arr = order.cast<py::array>();
    expect_int64(order_arr, op, "order");
    expect_shape(order_arr, {rows}, op, "order");
    const int64_t* o = static_cast<const int64_t*>(order_arr.data());
    for (py::ssize_t i = 0; i < rows; ++i)
      if (o[i] < 0 || o[i] >= rows) throw py::value_error(std::string(op) + ": argument 'order' must index the rows of x");
    e.order = o;
  }
  // a triple of written arrays shaped as (w, b, c): the velocities, the last mini-batch's directions
  auto triple = [&](const py::object& obj, const char* name, const char* parts, py::array* out) {
    py::tuple t = obj.cast<py::tuple>();
    if (t.size() != 3)
      throw py::value_error(std::string(op) + ": argument '" + name + "' must be " + parts);
    const std::vector<py::ssize_t> shapes[] = {{nh, nv}, {nv}, {nh}};
    for (int i = 0; i < 3; ++i) {
      // NOTE: kept in `labels` so that the spans' names outlive this call
      labels.push_back(std::string(name) + "[" + std::to_string(i) + "]");
      out[i] = t[i].cast<py::array>();
      epoch_array(out[i], shapes[i], true, labels.back().c_str(), op);
      span(out[i], labels.back().c_str());
    }
  };
  const bool moving = momentum != 0.0;
  py::array vel[3];
  if (moving) {
    if (velocity.is_none()) throw py::value_error(std::string(op) + ": momentum needs argument 'velocity' (vw, vb, vc)");
    triple(velocity, "velocity", "(vw, vb, vc)", vel);
  }
  py::array chain_arr, grad[3];
  if (!chain.is_none()) {
    chain_arr = chain.cast<py::array>();
    epoch_array(chain_arr, {std::min<py::ssize_t>(batch_size, rows), nv}, true, "chain", op);
    span(chain_arr, "chain");
  }
  if (!grads.is_none()) triple(grads, "grads", "(gw, gb, gc)", grad);
  span(w, "w");
  span(b, "b");
  span(c, "c");
  span(x, "x");
  // no written array may share memory with another argument
  for (size_t i = 0; i < spans.size(); ++i)
    for (size_t j = i + 1; j < spans.size(); ++j)
      if (spans[i].second.first < spans[j].second.second && spans[j].second.first < spans[i].second.second)
        throw py::value_error(std::string(op) + ": arguments '" + spans[i].first + "' and '" + spans[j].first +
                              "' share memory");
  e.x = static_cast<const float*>(x.data());
  e.rows = rows;
  e.w = mdata<float>(w);
  e.b = mdata<float>(b);
  e.c = mdata<float>(c);
  if (moving) {
    e.vw = mdata<float>(vel[0]);
    e.vb = mdata<float>(vel[1]);
    e.vc = mdata<float>(vel[2]);
  }
  e.nv = nv;
  e.nh = nh;
  e.batch = batch_size;
  e.k = k;
  e.lr = static_cast<float>(lr);
  e.momentum = static_cast<float>(momentum);
  e.weight_decay = static_cast<float>(weight_decay);
  e.seed = seed;
  e.counter = counter;
  e.chain = chain.is_none() ? nullptr : mdata<float>(chain_arr);
  if (!grads.is_none()) {
    e.gw = mdata<float>(grad[0]);
    e.gb = mdata<float>(grad[1]);
    e.gc = mdata<float>(grad[2]);
  }
  e.check = check;
  e.probe = probe;
  double error = 0.0;
  e.error = &error;
  bool ok;
  {
    py::gil_scoped_release release;
    ok = kLoop ? pk::cpu::rbm_fit_loop(e) : pk::cpu::rbm_fit_epoch(e);
  }
  if (!ok) throw py::value_error(std::string(op) + ": argument 'x' must hold values in [0, 1] (binary units or their probabilities)");
  if (probe == 0) return py::none();
  return py::float_(error);
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

py::array philox_blocks(uint64_t seed, uint64_t counter, uint64_t block0, int64_t nblocks) {
  if (nblocks < 0) throw py::value_error("_philox_blocks: argument 'nblocks' must be >= 0");
  py::array_t<float> out = empty<float>({4 * nblocks});
  float* p = out.mutable_data();
  {
    py::gil_scoped_release release;
    pk::cpu::philox_blocks(seed, counter, block0, nblocks, p);
  }
  return std::move(out);
}

py::object sigmoid_coarse(const py::array_t<float, py::array::c_style | py::array::forcecast>& x) {
  py::array_t<float> out = empty<float>({static_cast<int64_t>(x.size())});
  bool ok;
  {
    py::gil_scoped_release release;
    ok = pk::cpu::rbm_sigmoid_coarse(x.data(), x.size(), out.mutable_data());
  }
  if (!ok) return py::none();
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
  // the names of pk::cpu::RbmEpochProducts, in its order
  static constexpr const char* kProducts[] = {"auto", "sparse", "dense"};
  m.def(
      "_rbm_epoch_products", [] { return std::string(kProducts[static_cast<int>(pk::cpu::rbm_epoch_products())]); },
      "How rbm_fit_epoch forms the hidden sums and dw: 'auto', 'sparse' or 'dense' (see _set_rbm_epoch_products).");
  m.def(
      "_set_rbm_epoch_products",
      [](const std::string& name) {
        for (int i = 0; i < 3; ++i)
          if (name == kProducts[i]) {
            const auto previous = pk::cpu::rbm_epoch_products();
            pk::cpu::set_rbm_epoch_products(static_cast<pk::cpu::RbmEpochProducts>(i));
            return std::string(kProducts[static_cast<int>(previous)]);
          }
        throw py::value_error("_set_rbm_epoch_products: argument 'name' must be 'auto', 'sparse' or 'dense', got '" +
                              name + "'");
      },
      py::arg("name"),
      "How rbm_fit_epoch forms the hidden sums and dw (csrc/rbm.h, RbmEpochProducts): 'auto' (the default), "
      "'sparse' (the same bits as a loop of rbm_cd calls) or 'dense'; returns the previous setting. For tests and "
      "benchmarks.");
  m.def("rbm_fit_epoch_supported", &pk::cpu::rbm_fit_epoch_supported,
        "Whether rbm_fit_epoch runs here (float32, AVX-512 and the AMX visible path).");
  m.def("rbm_fit_epoch", &fit_epoch<false>, py::arg("x"), py::arg("order"), py::arg("w"), py::arg("b"), py::arg("c"),
        py::kw_only(), py::arg("velocity") = py::none(), py::arg("batch_size"), py::arg("k"), py::arg("lr"),
        py::arg("momentum"), py::arg("weight_decay"), py::arg("seed"), py::arg("counter"),
        py::arg("chain") = py::none(), py::arg("grads") = py::none(), py::arg("check") = false, py::arg("probe") = 0,
        "One epoch of nn.RBM.fit's mini-batch loop in place (float32; csrc/rbm.h, rbm_fit_epoch); returns the "
        "reconstruction error of x[:probe] after it (None for probe = 0).");
  m.def("rbm_fit_loop", &fit_epoch<true>, py::arg("x"), py::arg("order"), py::arg("w"), py::arg("b"), py::arg("c"),
        py::kw_only(), py::arg("velocity") = py::none(), py::arg("batch_size"), py::arg("k"), py::arg("lr"),
        py::arg("momentum"), py::arg("weight_decay"), py::arg("seed"), py::arg("counter"),
        py::arg("chain") = py::none(), py::arg("grads") = py::none(), py::arg("check") = false, py::arg("probe") = 0,
        "rbm_fit_epoch's arguments and result on any CPU: nn.RBM.fit's loop of rbm_cd calls in one native call "
        "(csrc/rbm.h, rbm_fit_loop), the same bits as that loop.");
  m.def("philox_uniform", &philox_uniform, py::arg("n"), py::arg("seed"), py::arg("counter") = 0,
        "The first n float32 uniforms of the Philox (seed, counter) stream (same as pykernels.random.uniform).");
  m.def("_rbm_sigmoid_coarse", &sigmoid_coarse, py::arg("x"),
        "The coarse sigmoid (within 2^-13 relative, 2^-126 absolute) the AMX visible draws test first, of the "
        "flattened x; None where the CPU has no AVX-512. For tests.");
  m.def("_philox_blocks", &philox_blocks, py::arg("seed"), py::arg("counter"), py::arg("block0"), py::arg("nblocks"),
        "The 4 * nblocks uniforms of blocks block0 .. of the (seed, counter) stream, drawn as the RBM kernels draw "
        "them (the AVX-512 kernel where the instruction set has it). For tests and benchmarks.");
}

}  // namespace pk::bind
