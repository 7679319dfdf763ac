// Binary restricted Boltzmann machine on the CPU; the math, the random stream and the order of the
// draws are stated in pykernels/reference/rbm.py.  Arrays are row-major and contiguous:
// w (nh, nv), b (nv), c (nh), visible batches (n, nv), hidden batches (n, nh).
#pragma once
#include <cstdint>

namespace pk::cpu {

// ph = sigmoid(v @ w^T + c)
template <class T>
void rbm_hidden_probs(const T* v, const T* w, const T* c, T* ph, int64_t n, int64_t nv, int64_t nh);

// pv = sigmoid(h @ w + b)
template <class T>
void rbm_visible_probs(const T* h, const T* w, const T* b, T* pv, int64_t n, int64_t nv, int64_t nh);

// k Gibbs steps from v0 into vk (n, nv), then hk (n, nh) ~ P(h | vk); counters counter .. counter + 2k.
template <class T>
void rbm_gibbs(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter, T* vk,
               T* hk, int64_t n, int64_t nv, int64_t nh);

// CD-k statistics; the negative chain starts at `chain` (persistent CD) or at v0 when chain is null,
// and ends in chain_out (n, nv).  n >= 1.
template <class T>
void rbm_cd(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter,
            const T* chain, T* dw, T* db, T* dc, T* chain_out, int64_t n, int64_t nv, int64_t nh);

// One epoch of nn.RBM.fit's mini-batch loop (float32), in place.  Mini-batch i is v0 = the rows
// order[i * batch ..] of x (rows, nv) (rows i * batch .. without `order`), the last one shorter when
// batch does not divide rows; for each, with counter_i = counter + i (2k + 1):
//     dw, db, dc, vk = rbm_cd(v0, w, b, c, k, seed, counter_i, chain[:len(v0)] or null)
//     chain[:len(v0)] = vk                                       (persistent CD only)
//     dw -= weight_decay * w;  then for (p, d, vel) in (w, dw, vw), (b, db, vb), (c, dc, vc):
//     d *= lr; if momentum: vel *= momentum; vel += d; p += vel; else: p += d
// (float32 operations in that order).  gw, gb, gc (unless null) receive the last mini-batch's dw,
// db, dc before the decay.  The velocities are only read and written with momentum != 0.
// With `check`, the data rows the epoch reads must hold values in [0, 1]: otherwise it returns
// false having changed none of the arrays.  With probe > 0, *error receives the mean squared error
// of the mean-field reconstruction sigmoid(sigmoid(v w^T + c) w + b) of the rows 0 .. probe - 1 of x
// after the epoch (nn.RBM.fit's history).
// The statistics are rbm_cd's up to the order of their sums (with RbmEpochProducts::kSparse; the
// dense tile products of bf16 splits are within a few times an fp32 GEMM's error); the draws are
// rbm_cd's on its AMX path (but where a probability that rounds differently sits within an ulp or
// two of its uniform).
struct RbmEpoch {
  const float* x;
  int64_t rows;
  const int64_t* order;
  float *w, *b, *c, *vw, *vb, *vc;
  int64_t nv, nh, batch, k;
  float lr, momentum, weight_decay;
  uint64_t seed, counter;
  float* chain;
  float *gw, *gb, *gc;
  bool check;
  int64_t probe;
  double* error;
  int products;  // set by rbm_fit_epoch from rbm_epoch_products()
};
// Whether this CPU and setting take rbm_fit_epoch (AVX-512 active, the AMX visible path); when
// false the caller runs the loop of rbm_cd calls itself.
bool rbm_fit_epoch_supported();
bool rbm_fit_epoch(const RbmEpoch& e);
// The same epoch where rbm_fit_epoch does not run (any CPU): nn.RBM.fit's loop of rbm_cd calls in one
// native call, the mini-batches gathered and dw, db, dc kept in this thread's buffers, the update
// in place with the float operations of RBM._epoch_loop: the same bits as that loop (products and
// error as `e.products` is ignored). Returns false, changing nothing, when e.check finds x outside [0, 1].
bool rbm_fit_loop(const RbmEpoch& e);

// How rbm_fit_epoch forms the hidden layers' sums v w^T and the statistics dw: kSparse: sums over
// the units on (the same float operations as rbm_cd, hence the same bits as a loop of rbm_cd calls);
// kDense: AMX tile products of two-part bf16 splits of w (for the sums) and of the probabilities (for
// dw), each value within 2^-17 of itself (sums and dw within a few times an fp32 GEMM's error, in
// another order: not the same bits); kAuto (the default): per mini-batch and part, kDense where the
// units on are dense enough that the tile products are faster (binary data; rbm_epoch_amx.cpp).
enum class RbmEpochProducts : int { kAuto = 0, kSparse = 1, kDense = 2 };
RbmEpochProducts rbm_epoch_products();
void set_rbm_epoch_products(RbmEpochProducts products);

// How the chains of rbm_gibbs / rbm_cd draw the visible units (float32, AVX-512 active; otherwise
// always kGemm): kGemm: h @ w by the GEMM; kAmx: an AMX-BF16 tile product with an error bound, the
// draws it leaves open recomputed exactly (rbm_amx.cpp); kExact: that exact recomputation for every
// unit (same draws as kAmx; for tests).  The default is kAmx where available, else kGemm.
enum class RbmVisiblePath : int { kGemm = 0, kAmx = 1, kExact = 2 };
RbmVisiblePath rbm_visible_path();
// Returns false (and changes nothing) when this CPU cannot take `path`.
bool set_rbm_visible_path(RbmVisiblePath path);

// The first n uniforms of the (seed, counter) stream (pykernels.random.uniform), for tests.
void philox_uniform(uint64_t seed, uint64_t counter, float* out, int64_t n);
// The uniforms of blocks block0 .. block0 + nblocks - 1 of the stream (4 each) as the kernels draw
// them: by the AVX-512 or AVX2 kernel where the active instruction set has it, else the portable loop; out
// holds 4 * nblocks. For tests and benchmarks.
void philox_blocks(uint64_t seed, uint64_t counter, uint64_t block0, int64_t nblocks, float* out);
// The coarse sigmoid the AMX visible draws test first (rbm_amx_common.h); false (out untouched)
// where the CPU has no AVX-512. For tests.
bool rbm_sigmoid_coarse(const float* x, int64_t n, float* out);

}  // namespace pk::cpu
