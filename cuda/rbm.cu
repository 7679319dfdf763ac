#include "rbm.cuh"

#include "../csrc/common/philox.h"  // the one Philox stream of every backend
#include "gemm.cuh"
#include "grid.cuh"
#include "math.cuh"

namespace pk::cuda {

namespace {

// One thread per element (grid-stride): p = sigmoid(p + bias[column]), p holding the product.
template <class T>
__global__ void sigmoid_bias_kernel(T* p, const T* bias, int64_t total, int64_t cols) {
  PK_GRID_STRIDE_LOOP(e, total) { p[e] = sigmoid_t(p[e] + bias[e % cols]); }
}

// One thread per Philox block, i.e. per four consecutive elements 4t .. 4t+3 of the row-major
// (rows, cols) layer (grid-stride): with `bias`, p = sigmoid(p + bias) first (without, p already
// holds the probabilities); then sample = 1 exactly where the stream's uniform is below p (in T).
template <class T>
__global__ void sample_kernel(T* p, const T* bias, int64_t total, int64_t cols, PhiloxStream stream, T* sample) {
  const int64_t blocks = (total + 3) / 4;
  PK_GRID_STRIDE_LOOP(t, blocks) {
    const PhiloxBlock words = stream.block(static_cast<uint64_t>(t));
    for (int k = 0; k < 4; ++k) {
      const int64_t e = 4 * t + k;
      if (e >= total) break;
      T prob = p[e];
      if (bias != nullptr) {
        prob = sigmoid_t(prob + bias[e % cols]);
        p[e] = prob;
      }
      sample[e] = static_cast<T>(philox_unit(words.w[k])) < prob ? T(1) : T(0);
    }
  }
}

// One thread per column j (grid-stride): out[j] = mean over the rows of a[:, j] - b[:, j], summed in
// row order in double.
template <class T>
__global__ void mean_difference_kernel(const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  PK_GRID_STRIDE_LOOP(j, cols) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s += static_cast<double>(a[r * cols + j]) - static_cast<double>(b[r * cols + j]);
    out[j] = static_cast<T>(s / static_cast<double>(rows));
  }
}

// One thread per Philox block (grid-stride): the uniforms of elements 4t .. 4t+3.
__global__ void uniform_kernel(PhiloxStream stream, float* out, int64_t n) {
  const int64_t blocks = (n + 3) / 4;
  PK_GRID_STRIDE_LOOP(t, blocks) {
    const PhiloxBlock words = stream.block(static_cast<uint64_t>(t));
    for (int k = 0; k < 4 && 4 * t + k < n; ++k) out[4 * t + k] = philox_unit(words.w[k]);
  }
}

template <class T>
void probabilities(T* act, const T* bias, int64_t rows, int64_t cols) {
  launch(sigmoid_bias_kernel<T>, grid_1d(rows * cols), dim3(kBlock), act, bias, rows * cols, cols);
}

template <class T>
void sample(T* act, const T* bias, int64_t rows, int64_t cols, const PhiloxStream& stream, T* out) {
  launch(sample_kernel<T>, grid_1d(ceil_div(rows * cols, 4)), dim3(kBlock), act, bias, rows * cols, cols, stream,
         out);
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
      if (n * nv > 0) {
        PK_CUDA_CHECK(cudaMemcpy(v, start, sizeof(T) * static_cast<size_t>(n * nv), cudaMemcpyDeviceToDevice));
      }
      return;
    }
    const T* cur = start;
    for (int64_t s = 0; s < k; ++s) {
      const PhiloxStream hidden_stream(seed, counter + 2 * static_cast<uint64_t>(s));
      const PhiloxStream visible_stream(seed, counter + 2 * static_cast<uint64_t>(s) + 1);
      if (s == 0 && ph_start != nullptr) {
        sample<T>(ph_start, nullptr, n, nh, hidden_stream, h);  // no bias: only read
      } else {
        hidden_pre(cur, ph);
        sample<T>(ph, c, n, nh, hidden_stream, h);
      }
      visible_pre(h, pv);
      sample<T>(pv, b, n, nv, visible_stream, v);
      cur = v;
    }
  }
};

}  // namespace

template <class T>
void rbm_hidden_probs(const T* v, const T* w, const T* c, T* ph, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, nullptr, c, n, nv, nh};
  rbm.hidden_pre(v, ph);
  probabilities<T>(ph, c, n, nh);
}

template <class T>
void rbm_visible_probs(const T* h, const T* w, const T* b, T* pv, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, b, nullptr, n, nv, nh};
  rbm.visible_pre(h, pv);
  probabilities<T>(pv, b, n, nv);
}

template <class T>
void rbm_gibbs(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter, T* vk,
               T* hk, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, b, c, n, nv, nh};
  DeviceBuffer<T> ph(n * nh), h(n * nh), pv(n * nv);
  rbm.chain(v0, nullptr, k, seed, counter, vk, ph.get(), h.get(), pv.get());
  rbm.hidden_pre(vk, ph.get());
  sample<T>(ph.get(), c, n, nh, PhiloxStream(seed, counter + 2 * static_cast<uint64_t>(k)), hk);
}

template <class T>
void rbm_cd(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter,
            const T* chain, T* dw, T* db, T* dc, T* chain_out, int64_t n, int64_t nv, int64_t nh) {
  const Rbm<T> rbm{w, b, c, n, nv, nh};
  DeviceBuffer<T> ph0(n * nh), ph(n * nh), h(n * nh), pv(n * nv);
  // Positive phase: probabilities of v0; they also drive the first draw of a chain starting at v0.
  rbm.hidden_pre(v0, ph0.get());
  probabilities<T>(ph0.get(), c, n, nh);
  const T* start = chain != nullptr ? chain : v0;
  rbm.chain(start, chain != nullptr ? nullptr : ph0.get(), k, seed, counter, chain_out, ph.get(), h.get(), pv.get());
  // Negative phase: phk = P(h | vk), into ph.
  rbm.hidden_pre(chain_out, ph.get());
  probabilities<T>(ph.get(), c, n, nh);
  const T inv_n = T(1) / static_cast<T>(n);
  gemm<T>(true, false, nh, nv, n, inv_n, ph0.get(), nh, v0, nv, T(0), dw, nv);
  gemm<T>(true, false, nh, nv, n, -inv_n, ph.get(), nh, chain_out, nv, T(1), dw, nv);
  launch(mean_difference_kernel<T>, grid_1d(nv), dim3(kBlock), v0, chain_out, db, n, nv);
  launch(mean_difference_kernel<T>, grid_1d(nh), dim3(kBlock), ph0.get(), ph.get(), dc, n, nh);
}

void philox_uniform(uint64_t seed, uint64_t counter, float* out, int64_t n) {
  launch(uniform_kernel, grid_1d(ceil_div(n, 4)), dim3(kBlock), PhiloxStream(seed, counter), out, n);
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

}  // namespace pk::cuda
