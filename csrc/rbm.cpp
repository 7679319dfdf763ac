#include "rbm.h"

#include <algorithm>
#include <vector>

#include "activation.h"
#include "common/parallel.h"
#include "common/philox.h"
#include "gemm.h"

namespace pk::cpu {

namespace {

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(cols, 1)); }

// One pass over a (rows, cols) layer after its GEMM: with `bias`, act holds the pre-activation less
// the bias on entry and P(unit = 1) = sigmoid(act + bias) on exit (without, it already holds the
// probabilities); with `stream`, sample[i] = 1 exactly where the stream's uniform of element i
// (row-major) is below that probability, else 0.
template <class T>
void activate(T* act, const T* bias, int64_t rows, int64_t cols, const PhiloxStream* stream, T* sample) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    uint64_t cached = ~uint64_t{0};
    PhiloxBlock block{};
    for (int64_t r = r0; r < r1; ++r) {
      T* a = act + r * cols;
      if (bias != nullptr) {
        for (int64_t j = 0; j < cols; ++j) a[j] = sigmoid_scalar(a[j] + bias[j]);
      }
      if (stream == nullptr) continue;
      T* s = sample + r * cols;
      for (int64_t j = 0; j < cols; ++j) {
        const uint64_t i = static_cast<uint64_t>(r * cols + j);
        if ((i >> 2) != cached) {
          cached = i >> 2;
          block = stream->block(cached);
        }
        s[j] = static_cast<T>(philox_unit(block.w[i & 3])) < a[j] ? T(1) : T(0);
      }
    }
  });
}

// Column means of a - b (rows, cols) into out, accumulated in double.
template <class T>
void mean_difference(const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  std::vector<double> sum(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) sum[j] += static_cast<double>(a[r * cols + j]) - static_cast<double>(b[r * cols + j]);
  for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<T>(sum[j] / static_cast<double>(rows));
}

template <class T>
struct Rbm {
  const T* w;
  const T* b;
  const T* c;
  int64_t n, nv, nh;

  // out (n, nh) = v @ w^T, out (n, nv) = h @ w
  void hidden_pre(const T* v, T* out) const { gemm<T>(false, true, n, nh, nv, T(1), v, nv, w, nv, T(0), out, nh); }
  void visible_pre(const T* h, T* out) const { gemm<T>(false, false, n, nv, nh, T(1), h, nh, w, nv, T(0), out, nv); }

  // k Gibbs steps from `start` into v (not aliasing start); ph and h are (n, nh) scratch, pv (n, nv)
  // scratch.  `ph_start`, when given, holds P(h | start) already (and is only read).
  void chain(const T* start, T* ph_start, int64_t k, uint64_t seed, uint64_t counter, T* v, T* ph, T* h,
             T* pv) const {
    if (k == 0) {
      std::copy(start, start + n * nv, v);
      return;
    }
    const T* cur = start;
    for (int64_t s = 0; s < k; ++s) {
      const PhiloxStream hidden_stream(seed, counter + 2 * static_cast<uint64_t>(s));
      const PhiloxStream visible_stream(seed, counter + 2 * static_cast<uint64_t>(s) + 1);
      if (s == 0 && ph_start != nullptr) {
        activate<T>(ph_start, nullptr, n, nh, &hidden_stream, h);
      } else {
        hidden_pre(cur, ph);
        activate<T>(ph, c, n, nh, &hidden_stream, h);
      }
      visible_pre(h, pv);
      activate<T>(pv, b, n, nv, &visible_stream, v);
      cur = v;
    }
  }
};

}  // namespace

template <class T>
void rbm_hidden_probs(const T* v, const T* w, const T* c, T* ph, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, nullptr, c, n, nv, nh};
  rbm.hidden_pre(v, ph);
  activate<T>(ph, c, n, nh, nullptr, nullptr);
}

template <class T>
void rbm_visible_probs(const T* h, const T* w, const T* b, T* pv, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, b, nullptr, n, nv, nh};
  rbm.visible_pre(h, pv);
  activate<T>(pv, b, n, nv, nullptr, nullptr);
}

template <class T>
void rbm_gibbs(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter, T* vk,
               T* hk, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, b, c, n, nv, nh};
  std::vector<T> ph(static_cast<size_t>(n * nh)), h(static_cast<size_t>(n * nh)), pv(static_cast<size_t>(n * nv));
  rbm.chain(v0, nullptr, k, seed, counter, vk, ph.data(), h.data(), pv.data());
  const PhiloxStream last(seed, counter + 2 * static_cast<uint64_t>(k));
  rbm.hidden_pre(vk, ph.data());
  activate<T>(ph.data(), c, n, nh, &last, hk);
}

template <class T>
void rbm_cd(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter,
            const T* chain, T* dw, T* db, T* dc, T* chain_out, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, b, c, n, nv, nh};
  std::vector<T> ph0(static_cast<size_t>(n * nh)), ph(static_cast<size_t>(n * nh)), h(static_cast<size_t>(n * nh)),
      pv(static_cast<size_t>(n * nv));
  // Positive phase: probabilities of v0; they also drive the first draw of a chain starting at v0.
  rbm.hidden_pre(v0, ph0.data());
  activate<T>(ph0.data(), c, n, nh, nullptr, nullptr);
  const T* start = chain != nullptr ? chain : v0;
  rbm.chain(start, chain != nullptr ? nullptr : ph0.data(), k, seed, counter, chain_out, ph.data(), h.data(),
            pv.data());
  // Negative phase: phk = P(h | vk), into ph.
  rbm.hidden_pre(chain_out, ph.data());
  activate<T>(ph.data(), c, n, nh, nullptr, nullptr);
  const T inv_n = T(1) / static_cast<T>(n);
  gemm<T>(true, false, nh, nv, n, inv_n, ph0.data(), nh, v0, nv, T(0), dw, nv);
  gemm<T>(true, false, nh, nv, n, -inv_n, ph.data(), nh, chain_out, nv, T(1), dw, nv);
  mean_difference(v0, chain_out, db, n, nv);
  mean_difference(ph0.data(), ph.data(), dc, n, nh);
}

void philox_uniform(uint64_t seed, uint64_t counter, float* out, int64_t n) {
  const PhiloxStream stream(seed, counter);
  for (int64_t i = 0; i < n; ++i) out[i] = stream.uniform(static_cast<uint64_t>(i));
}

#define PK_INSTANTIATE(T)                                                                                        \
  template void rbm_hidden_probs<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t);                \
  template void rbm_visible_probs<T>(const T*, const T*, const T*, T*, int64_t, int64_t, int64_t);               \
  template void rbm_gibbs<T>(const T*, const T*, const T*, const T*, int64_t, uint64_t, uint64_t, T*, T*, int64_t, \
                             int64_t, int64_t);                                                                  \
  template void rbm_cd<T>(const T*, const T*, const T*, const T*, int64_t, uint64_t, uint64_t, const T*, T*, T*,  \
                          T*, T*, int64_t, int64_t, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cpu
