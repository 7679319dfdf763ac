// Internal to the CPU RBM: the sparse layouts its products use, the float32 AVX-512 kernels
// (rbm_avx512.cpp, entered only when active_isa() says the CPU has AVX-512) and the AMX-BF16
// visible draw (rbm_amx.cpp, also only after rbm_amx::available()).  rbm.cpp holds the
// portable versions of the same kernels and picks one per call.
//
// Why sparse: the visible units (the data and every sample) and the hidden samples are 0/1, and
// binarised images are mostly 0, so v @ w^T and the weight statistics ph^T @ v are sums of the
// few rows of w^T (or of ph) that v selects: a fraction of a dense GEMM's work.
#pragma once
#include <algorithm>
#include <cstdint>

#include "common/philox.h"
#include "rbm.h"

namespace pk::cpu {

// The nonzeros of a (rows, cols) matrix: row r's column indices and values in idx/val[r * cols ..
// r * cols + count[r]), columns increasing.
template <class T>
struct SparseRows {
  int32_t* idx;
  T* val;
  int32_t* count;
  int64_t cols;
};

// The same nonzeros by column: column j's row indices and values in idx/val[start[j] .. start[j+1]);
// `ones`: every value is 1 (binary data, samples).
template <class T>
struct SparseCols {
  int32_t* start;
  int32_t* idx;
  T* val;
  bool ones;
};

namespace {

// Column lists of s's first `rows` rows into c (start: s.cols + 1, idx and val: their nonzeros;
// val and `ones` left alone when c.val is null), `next` (s.cols ints) as scratch.
// NOTE: internal linkage, as every helper of this header: files compiled for one instruction set
// include it, and each keeps its own copy.
template <class T>
void to_columns(const SparseRows<T>& s, int64_t rows, SparseCols<T>& c, int32_t* next) {
  std::fill(c.start, c.start + s.cols + 1, 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int32_t p = 0; p < s.count[r]; ++p) ++c.start[s.idx[r * s.cols + p] + 1];
  for (int64_t j = 0; j < s.cols; ++j) c.start[j + 1] += c.start[j];
  std::copy(c.start, c.start + s.cols, next);
  bool ones = true;
  for (int64_t r = 0; r < rows; ++r) {
    for (int32_t p = 0; p < s.count[r]; ++p) {
      const int32_t q = next[s.idx[r * s.cols + p]]++;
      c.idx[q] = static_cast<int32_t>(r);
      if (c.val == nullptr) continue;
      c.val[q] = s.val[r * s.cols + p];
      ones = ones && c.val[q] == T(1);
    }
  }
  if (c.val != nullptr) c.ones = ones;
}

// The keys (k0, k1) of the 10 rounds of `stream`, keys[2 round] and keys[2 round + 1], for the vector
// Philox kernels (philox4x32_10 advances them as it goes).
inline void philox_round_keys(const PhiloxStream& stream, uint32_t* keys) {
  uint32_t k0 = stream.k0, k1 = stream.k1;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += philox_detail::kWeyl0;
      k1 += philox_detail::kWeyl1;
    }
    keys[2 * round] = k0;
    keys[2 * round + 1] = k1;
  }
}

}  // namespace

namespace rbm_avx512 {

// The uniforms of Philox blocks block0 .. block0 + nblocks - 1 of `stream`, 4 per block, into
// out[0 .. 4 * nblocks); out must hold 4 * nblocks rounded up to 64.
void philox_units(const PhiloxStream& stream, uint64_t block0, int64_t nblocks, float* out);

// Columns h0 .. h1 - 1 (h0 a multiple of 32) of out (rows, nh): out[r, h] = sum over the nonzeros
// (j, x) of row r of x * w[h, j], w (nh, x.cols).  Each 32 hidden units' rows of w are first
// transposed into `panel` (x.cols * 32 floats, 64-byte aligned), so that a nonzero selects two
// vectors; two partial sums (nonzeros p even, odd) are added at the end.
void sparse_hidden(const SparseRows<float>& x, int64_t rows, const float* w, int64_t nh, int64_t h0, int64_t h1,
                   float* out, float* panel);

// Columns j0 .. j1 - 1 of dw (nh, nv): dw[h, j] = scale * (sum over column j's nonzeros (i, x) of a
// of x * pa[i, h] - the same over b with pb), pa and pb (rows, nh); scratch holds 32 * (16 + 2 rows)
// floats, 64-byte aligned.
void sparse_dw(const SparseCols<float>& a, const float* pa, const SparseCols<float>& b, const float* pb, int64_t rows,
               int64_t j0, int64_t j1, int64_t nh, int64_t nv, float scale, float* dw, float* scratch);

// The nonzeros of x[0 .. cols) into idx/val (as SparseRows lays out one row); returns their number.
// With `outside`, sets *outside to true when a value is not in [0, 1] (or NaN), else leaves it.
int32_t find_nonzeros_row(const float* x, int64_t cols, int32_t* idx, float* val, bool* outside = nullptr);

// One row of a layer: p = sigmoid(a + bias) into a (a holds p already without bias); with u, sample[j] = (u[j] < p[j]) and the
// sample's nonzeros (all 1) appended to idx/val, their number returned.
int32_t activate_row(float* a, const float* bias, int64_t cols, const float* u, float* sample, int32_t* idx,
                     float* val);

}  // namespace rbm_avx512

// The same kernels for AVX2 + FMA (rbm_avx2.cpp, entered only when active_isa() is AVX2), each as
// its rbm_avx512 namesake (philox_units writes whole groups of 16 blocks too; sparse_dw's scratch
// is the same size), and the visible layer's sums for a 0/1 hidden sample.
namespace rbm_avx2 {

void philox_units(const PhiloxStream& stream, uint64_t block0, int64_t nblocks, float* out);
void sparse_hidden(const SparseRows<float>& x, int64_t rows, const float* w, int64_t nh, int64_t h0, int64_t h1,
                   float* out, float* panel);
void sparse_dw(const SparseCols<float>& a, const float* pa, const SparseCols<float>& b, const float* pb, int64_t rows,
               int64_t j0, int64_t j1, int64_t nh, int64_t nv, float scale, float* dw, float* scratch);
int32_t find_nonzeros_row(const float* x, int64_t cols, int32_t* idx, float* val, bool* outside = nullptr);
int32_t activate_row(float* a, const float* bias, int64_t cols, const float* u, float* sample, int32_t* idx,
                     float* val);

// Columns j0 .. j1 - 1 of out (rows, nv): out[r, j] = the sum of w[k, j] (w: nh x nv) over the
// units k with h[r, k] != 0 (h: rows x nh, a 0/1 sample), the h @ w of the visible layer (two
// partial sums, the units on at even and at odd places of the row's list, added at the end); lists
// (rows * nh ints) and counts (rows) are scratch (each row's units on).
void binary_sums(const float* h, int64_t rows, int64_t nh, const float* w, int64_t nv, int64_t j0, int64_t j1,
                 float* out, int32_t* lists, int32_t* counts);

}  // namespace rbm_avx2

// The visible draw of a Gibbs step with AMX-BF16 (rbm_amx.cpp; callers check active_isa() is
// AVX-512 first, and available() before passing packed weights).
namespace rbm_amx {

// Whether the CPU has AMX-BF16 and the kernel granted this process the tile state (asked once).
bool available();

// available() and the CPU has AVX512-BF16 (vcvtne2ps2bf16: the fused epoch's bf16 splits).
bool bf16_available();

// uint16 count of pack()'s output for w (nh, nv).
int64_t packed_size(int64_t nh, int64_t nv);

// Column tiles t0 .. t1 - 1 (16 visible units each) of w (nh, nv) as bf16 parts hi and lo in AMX
// tile layout into `packed` (packed_size, 64-byte aligned; lo = w - hi rounded, so |w - hi - lo| <=
// 2^-17 |w|).
void pack(const float* w, int64_t nh, int64_t nv, int64_t t0, int64_t t1, uint16_t* packed);

// For the visible units of column tiles t0 .. t1 - 1 (16 units each), the bound on the error of
// the tile product (and of the sums that follow it) into bound[16 t0 .. 16 t1) (64-byte aligned).
// Returns false when w's columns there have entries the bound does not cover (NaN, infinities,
// column sums of |w| of 1e30 or more).
bool bound(const float* w, int64_t nh, int64_t nv, int64_t t0, int64_t t1, float* bound);

// Visible units 16 t0 .. min(nv, 16 t1) - 1 (column tiles t0 .. t1 - 1) of every row of v (n, nv):
// v[r, j] = (u < sigmoid(sum_k h[r, k] w[k, j] + bias[j])), u the stream's uniform of element
// r * nv + j, the sum being the exact one (fp32, 0 plus the rows k with h[r, k] = 1 in increasing k)
// wherever the tile product's bound leaves the draw open, or everywhere when `packed` is null (the
// exact path); h (n, nh) is 0/1.  Row r's nonzeros in these columns go to vs (unless null) from
// position r * nv + 16 t0 on, their number to counts[r]; the caller joins the column ranges.
void visible_columns(const float* h, int64_t nh, const float* w, int64_t nv, const float* bias, const uint16_t* packed,
                     const float* bound, int64_t n, int64_t t0, int64_t t1, const PhiloxStream& stream, float* v,
                     const SparseRows<float>* vs, int32_t* counts);

// out[i] = the coarse sigmoid of x[i] that the visible draws test first (sigmoid_coarse16 in
// rbm_amx_common.h; AVX-512 only), for tests.
void sigmoid_coarse(const float* x, int64_t n, float* out);

// rbm_fit_epoch (rbm.h) on thread-owned layouts of w (rbm_epoch_amx.cpp); available() must hold.
bool fit_epoch(const RbmEpoch& e);

}  // namespace rbm_amx

}  // namespace pk::cpu
