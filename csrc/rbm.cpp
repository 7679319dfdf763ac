#include "rbm.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <vector>

#include "activation.h"
#include "common/aligned_buffer.h"
#include "common/cpu_features.h"
#include "common/fastmath.h"
#include "common/parallel.h"
#include "common/philox.h"
#include "gemm.h"
#include "rbm_isa.h"

namespace pk::cpu {

namespace {

// A product with a batch whose nonzeros make up at most this fraction of it takes the sparse path
// (sums of the rows the nonzeros select); denser batches take the GEMMs.
// NOTE: measured (one thread, rbm_cd on 100 x 784 -> 256, data and reconstructions of the same
// density): sparse vs GEMM path 0.87 vs 1.59 ms at 10 % nonzeros, 1.14 vs 1.57 at 20 %, 1.42 vs
// 1.58 at 30 %: the crossing is near 35 %.  On AVX2 (AMD EPYC, two cores) the same rule: at 50 %
// nonzeros rbm_cd took 2.8-3.0 ms a call through the GEMMs against 2.9-3.4 through the sums (medians
// of 15 x 20 calls).
constexpr double kSparseDensity = 0.35;

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, (1 << 13) / std::max<int64_t>(cols, 1)); }

template <class T>
bool use_avx512() {
  return std::is_same_v<T, float> && active_isa() == Isa::kAvx512;
}

template <class T>
bool use_avx2() {
  return std::is_same_v<T, float> && active_isa() == Isa::kAvx2;
}

// -1: not chosen yet (the default is taken on first use), else an RbmVisiblePath.
std::atomic<int> g_visible_path{-1};

bool visible_path_supported(RbmVisiblePath path) {
  if (path == RbmVisiblePath::kGemm) return true;
  if (detected_isa() != Isa::kAvx512) return false;
  return path == RbmVisiblePath::kExact || rbm_amx::available();
}

// ---- portable kernels (the AVX-512 ones are in rbm_avx512.cpp) -------------------------------------

void philox_units_portable(const PhiloxStream& stream, uint64_t block0, int64_t nblocks, float* out) {
  for (int64_t b = 0; b < nblocks; ++b) {
    const PhiloxBlock block = stream.block(block0 + static_cast<uint64_t>(b));
    for (int q = 0; q < 4; ++q) out[4 * b + q] = philox_unit(block.w[q]);
  }
}

template <class T>
void sparse_hidden_portable(const SparseRows<T>& x, int64_t rows, const T* w, int64_t nh, int64_t h0, int64_t h1,
                            T* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t* idx = x.idx + r * x.cols;
    const T* val = x.val + r * x.cols;
    for (int64_t h = h0; h < h1; ++h) {
      const T* wh = w + h * x.cols;
      T sum = T(0);
      for (int32_t p = 0; p < x.count[r]; ++p) sum += val[p] * wh[idx[p]];
      out[r * nh + h] = sum;
    }
  }
}

template <class T>
void sparse_dw_portable(const SparseCols<T>& a, const T* pa, const SparseCols<T>& b, const T* pb, int64_t j0,
                        int64_t j1, int64_t nh, int64_t nv, T scale, T* dw) {
  std::vector<T> sa(static_cast<size_t>(nh)), sb(static_cast<size_t>(nh));
  for (int64_t j = j0; j < j1; ++j) {
    std::fill(sa.begin(), sa.end(), T(0));
    std::fill(sb.begin(), sb.end(), T(0));
    for (int32_t p = a.start[j]; p < a.start[j + 1]; ++p) {
      const T* row = pa + static_cast<int64_t>(a.idx[p]) * nh;
      for (int64_t h = 0; h < nh; ++h) sa[h] += a.val[p] * row[h];
    }
    for (int32_t p = b.start[j]; p < b.start[j + 1]; ++p) {
      const T* row = pb + static_cast<int64_t>(b.idx[p]) * nh;
      for (int64_t h = 0; h < nh; ++h) sb[h] += b.val[p] * row[h];
    }
    for (int64_t h = 0; h < nh; ++h) dw[h * nv + j] = (sa[h] - sb[h]) * scale;
  }
}

template <class T>
T sigmoid_of(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return fastmath::sigmoid(x);
  } else {
    return sigmoid_scalar(x);
  }
}

template <class T>
int32_t activate_row_portable(T* a, const T* bias, int64_t cols, const float* u, T* sample, int32_t* idx, T* val) {
  if (bias != nullptr)
    for (int64_t j = 0; j < cols; ++j) a[j] = sigmoid_of(a[j] + bias[j]);
  if (u == nullptr) return 0;
  int32_t count = 0;
  for (int64_t j = 0; j < cols; ++j) {
    const bool on = static_cast<T>(u[j]) < a[j];
    sample[j] = on ? T(1) : T(0);
    if (on) {
      idx[count] = static_cast<int32_t>(j);
      val[count++] = T(1);
    }
  }
  return count;
}

// ---- dispatch -----------------------------------------------------------------------------------------

// The float32 kernels of one instruction set (rbm_isa.h), chosen once per call site by isa_kernels.
struct IsaKernels {
  void (*philox_units)(const PhiloxStream&, uint64_t, int64_t, float*);
  void (*sparse_hidden)(const SparseRows<float>&, int64_t, const float*, int64_t, int64_t, int64_t, float*, float*);
  void (*sparse_dw)(const SparseCols<float>&, const float*, const SparseCols<float>&, const float*, int64_t, int64_t,
                    int64_t, int64_t, int64_t, float, float*, float*);
  int32_t (*find_nonzeros_row)(const float*, int64_t, int32_t*, float*, bool*);
  int32_t (*activate_row)(float*, const float*, int64_t, const float*, float*, int32_t*, float*);
};

constexpr IsaKernels kAvx512Kernels{&rbm_avx512::philox_units, &rbm_avx512::sparse_hidden, &rbm_avx512::sparse_dw,
                                    &rbm_avx512::find_nonzeros_row, &rbm_avx512::activate_row};
constexpr IsaKernels kAvx2Kernels{&rbm_avx2::philox_units, &rbm_avx2::sparse_hidden, &rbm_avx2::sparse_dw,
                                  &rbm_avx2::find_nonzeros_row, &rbm_avx2::activate_row};

// The active instruction set's kernels for a layer of T, or null where the portable loops run
// (float64 layers, and CPUs without AVX2).
template <class T>
const IsaKernels* isa_kernels() {
  if (use_avx512<T>()) return &kAvx512Kernels;
  if (use_avx2<T>()) return &kAvx2Kernels;
  return nullptr;
}

// The uniforms of Philox blocks block0 .. block0 + nblocks - 1 into out, by the active instruction
// set's kernel for float32 layers (which writes whole groups of 16 blocks: out holds 4 * nblocks
// rounded up to 64), else the portable loop.
template <class T>
void philox_units(const PhiloxStream& stream, uint64_t block0, int64_t nblocks, float* out) {
  if (const IsaKernels* k = isa_kernels<T>()) {
    k->philox_units(stream, block0, nblocks, out);
  } else {
    philox_units_portable(stream, block0, nblocks, out);
  }
}

// One pass over rows r0 .. r1 - 1, columns c0 .. c1 - 1 of a (rows, cols) layer after its product: act holds the
// pre-activation less the bias on entry and P(unit = 1) = sigmoid(act + bias) on exit; with
// `stream`, sample[i] = 1 exactly where the stream's uniform of element i (row-major) is below that
// probability, else 0, and with `nonzeros` the sample's nonzeros are recorded there.
template <class T>
void activate_block(T* act, const T* bias, int64_t r0, int64_t r1, int64_t cols, int64_t c0, int64_t c1,
                    const PhiloxStream* stream, T* sample, const SparseRows<T>* nonzeros) {
  thread_local AlignedBuffer<float> units;
  thread_local AlignedBuffer<int32_t> idx_scratch;
  thread_local AlignedBuffer<T> val_scratch;
  const int64_t width = c1 - c0;
  float* u = nullptr;
  if (stream != nullptr) u = units.get((width + 8 + 63) / 64 * 64 + 64);
  for (int64_t r = r0; r < r1; ++r) {
    const float* ur = nullptr;
    if (stream != nullptr) {
      const uint64_t first = static_cast<uint64_t>(r * cols + c0);
      const uint64_t block0 = first >> 2;
      const int64_t nblocks = static_cast<int64_t>(((first + static_cast<uint64_t>(width) + 3) >> 2) - block0);
      philox_units<T>(*stream, block0, nblocks, u);
      ur = u + (first & 3);
    }
    int32_t* idx = nonzeros != nullptr ? nonzeros->idx + r * cols : idx_scratch.get(width);
    T* val = nonzeros != nullptr ? nonzeros->val + r * cols : val_scratch.get(width);
    T* a = act + r * cols + c0;
    T* s = sample != nullptr ? sample + r * cols + c0 : nullptr;
    const T* bb = bias != nullptr ? bias + c0 : nullptr;
    int32_t count;
    if constexpr (std::is_same_v<T, float>) {
      const IsaKernels* k = isa_kernels<T>();
      count = k != nullptr ? k->activate_row(a, bb, width, ur, s, idx, val)
                           : activate_row_portable(a, bb, width, ur, s, idx, val);
    } else {
      count = activate_row_portable(a, bb, width, ur, s, idx, val);
    }
    if (nonzeros != nullptr) nonzeros->count[r] = count;
  }
}

// activate_block over whole rows (`nonzeros` indexes columns from 0).
template <class T>
void activate_rows(T* act, const T* bias, int64_t r0, int64_t r1, int64_t cols, const PhiloxStream* stream, T* sample,
                   const SparseRows<T>* nonzeros) {
  activate_block(act, bias, r0, r1, cols, 0, cols, stream, sample, nonzeros);
}

template <class T>
int64_t total_count(const SparseRows<T>& s, int64_t rows) {
  int64_t total = 0;
  for (int64_t r = 0; r < rows; ++r) total += s.count[r];
  return total;
}

// The nonzeros of x (rows, cols) into s; returns their number.
template <class T>
int64_t find_nonzeros(const T* x, int64_t rows, int64_t cols, const SparseRows<T>& s) {
  // NOTE: bound by reading the batch from memory (about 35 us for 100 x 784 on one thread, 20 on two).
  parallel_for(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int32_t count = 0;
      const T* xr = x + r * cols;
      int32_t* idx = s.idx + r * cols;
      T* val = s.val + r * cols;
      if constexpr (std::is_same_v<T, float>) {
        if (const IsaKernels* k = isa_kernels<T>()) {
          s.count[r] = k->find_nonzeros_row(xr, cols, idx, val, nullptr);
          continue;
        }
      }
      for (int64_t j = 0; j < cols; ++j) {
        if (xr[j] != T(0)) {
          idx[count] = static_cast<int32_t>(j);
          val[count++] = xr[j];
        }
      }
      s.count[r] = count;
    }
  });
  return total_count(s, rows);
}

// Scratch of one RBM call, kept per calling thread so that training loops do not allocate.
template <class T>
struct Buffers {
  AlignedBuffer<T> ph0, ph, h, pv, val0, valk, col_val0, col_valk;
  AlignedBuffer<uint16_t> packed;
  AlignedBuffer<float> bound;
  AlignedBuffer<int32_t> idx0, idxk, count0, countk, col_start0, col_startk, col_idx0, col_idxk, part_counts;
  // A copy of w that the threads read in its place (see rbm_cd).
  AlignedBuffer<T> w_copy;
};

template <class T>
Buffers<T>& buffers() {
  thread_local Buffers<T> b;
  return b;
}

// Joins the row lists of nonzeros that `parts` column parts wrote into vs (row r's space starts at
// r * nv): part q's list of row r starts at column start(q) of that space, holds counts[q * n + r]
// entries, and counts its indices from start(q) when `relative`. Each row's joined list starts at
// r * nv, its length into vs.count[r].
template <class T, class Start>
void join_row_lists(const SparseRows<T>& vs, const int32_t* counts, int64_t n, int64_t nv, int64_t parts, Start&& start,
                    bool relative) {
  for (int64_t r = 0; r < n; ++r) {
    int32_t total = counts[r];
    for (int64_t q = 1; q < parts; ++q) {
      const int64_t c0 = start(q);
      const int32_t shift = relative ? static_cast<int32_t>(c0) : 0;
      const int32_t* from_idx = vs.idx + r * nv + c0;
      const T* from_val = vs.val + r * nv + c0;
      int32_t* to_idx = vs.idx + r * nv + total;
      T* to_val = vs.val + r * nv + total;
      const int32_t m = counts[q * n + r];
      for (int32_t p = 0; p < m; ++p) {  // (to <= from: forward copies)
        to_idx[p] = from_idx[p] + shift;
        to_val[p] = from_val[p];
      }
      total += m;
    }
    vs.count[r] = total;
  }
}

template <class T>
struct Rbm {
  const T* w;
  const T* b;
  const T* c;
  int64_t n, nv, nh;
  Buffers<T>& buf = buffers<T>();

  // Only batches of at most this many visible units take the sparse products, whose scratch (the
  // nonzeros, 8 bytes each at most, twice) is kept per thread; larger ones take the GEMMs, which
  // need no scratch of that size and run well on them anyway.
  static constexpr int64_t kSparseMaxElements = int64_t{1} << 21;
  bool sparse_allowed() const { return n * nv <= kSparseMaxElements; }

  // Storage for the nonzeros of a visible batch (null pointers when the batch is too large for them).
  SparseRows<T> visible_nonzeros(AlignedBuffer<int32_t>& idx, AlignedBuffer<T>& val, AlignedBuffer<int32_t>& count) {
    if (!sparse_allowed()) return SparseRows<T>{nullptr, nullptr, nullptr, nv};
    return SparseRows<T>{idx.get(n * nv), val.get(n * nv), count.get(n), nv};
  }

  // Whether a visible batch with `total` nonzeros takes the sparse products.
  bool sparse_enough(int64_t total) const {
    return sparse_allowed() && static_cast<double>(total) <= kSparseDensity * static_cast<double>(n * nv);
  }

  // The nonzeros of the visible batch v into s; whether the sparse products pay for it.
  bool sparse(const T* v, const SparseRows<T>& s) {
    if (!sparse_allowed()) return false;
    const int64_t total = find_nonzeros(v, n, nv, s);
    return sparse_enough(total);
  }

  // ph (n, nh) = sigmoid(v @ w^T + c), with `vs` (v's nonzeros) through the sparse product; with
  // `stream`, also h ~ ph.
  void hidden(const T* v, const SparseRows<T>* vs, T* ph, const PhiloxStream* stream, T* h) {
    if (vs == nullptr) {
      gemm<T>(false, true, n, nh, nv, T(1), v, nv, w, nv, T(0), ph, nh);
      parallel_for(n, row_grain(nh), [&](int64_t r0, int64_t r1) { activate_rows<T>(ph, c, r0, r1, nh, stream, h, nullptr); });
      return;
    }
    // Threads take whole panels of 32 hidden units (see rbm_avx512::sparse_hidden).
    const int64_t panels = (nh + 31) / 32;
    parallel_for(panels, 1, [&](int64_t q0, int64_t q1) {
      const int64_t h0 = 32 * q0, h1 = std::min(nh, 32 * q1);
      if constexpr (std::is_same_v<T, float>) {
        if (const IsaKernels* k = isa_kernels<T>()) {
          thread_local AlignedBuffer<float> panel;
          k->sparse_hidden(*vs, n, w, nh, h0, h1, ph, panel.get(32 * nv));
        } else {
          sparse_hidden_portable(*vs, n, w, nh, h0, h1, ph);
        }
      } else {
        sparse_hidden_portable(*vs, n, w, nh, h0, h1, ph);
      }
      // NOTE: activated by the thread that summed these columns (still in its cache).
      activate_block<T>(ph, c, 0, n, nh, h0, h1, stream, h, nullptr);
    });
  }

  // State of the AMX path's packed weights for this call: 0 not packed yet, 1 packed, 2 unusable.
  int packed_state = 0;

  // Column ranges of the visible draw (one per thread, at least one tile of 16 units each).
  int64_t visible_parts() const { return std::max<int64_t>(1, std::min<int64_t>(max_threads(), (nv + 15) / 16)); }

  // pv (n, nv) = sigmoid(h @ w + b) and v ~ pv, v's nonzeros into vs (unless null); h is a sample (0/1).
  // NOTE: on the AMX and exact paths pv is left undefined (only the draws are needed).
  void visible(const T* h, T* pv, const PhiloxStream* stream, T* v, const SparseRows<T>* vs) {
    if constexpr (std::is_same_v<T, float>) {
      const RbmVisiblePath path = rbm_visible_path();
      if (stream != nullptr && use_avx512<T>() && path != RbmVisiblePath::kGemm) {
        const bool amx = path == RbmVisiblePath::kAmx;
        if (amx && packed_state == 0) {
          uint16_t* packed = buf.packed.get(rbm_amx::packed_size(nh, nv));
          float* bound = buf.bound.get((nv + 15) / 16 * 16);
          std::atomic<bool> ok{true};
          // each thread packs and bounds the column tiles it then draws (visible_parts)
          const int64_t parts = visible_parts(), nt = (nv + 15) / 16;
          parallel_for(parts, 1, [&](int64_t q0, int64_t q1) {
            rbm_amx::pack(w, nh, nv, nt * q0 / parts, nt * q1 / parts, packed);
            if (!rbm_amx::bound(w, nh, nv, nt * q0 / parts, nt * q1 / parts, bound)) ok = false;
          });
          packed_state = ok ? 1 : 2;
        }
        if (!amx || packed_state == 1) {
          const uint16_t* packed = amx ? buf.packed.get(rbm_amx::packed_size(nh, nv)) : nullptr;
          const float* bound = amx ? buf.bound.get((nv + 15) / 16 * 16) : nullptr;
          // Threads take column ranges (whole tiles of 16 units) of every row: each reads only its own
          // columns of the packed weights, which it packed itself (nothing crosses between cores),
          // and the per-row draws split evenly.
          const int64_t parts = visible_parts(), nt = (nv + 15) / 16;
          int32_t* counts = buf.part_counts.get(parts * n);
          parallel_for(parts, 1, [&](int64_t q0, int64_t q1) {
            for (int64_t q = q0; q < q1; ++q)
              rbm_amx::visible_columns(h, nh, w, nv, b, packed, bound, n, nt * q / parts, nt * (q + 1) / parts, *stream, v,
                                       vs, counts + q * n);
          });
          // part q's lists start at column 16 nt q / parts, their indices counted from 0
          if (vs != nullptr) join_row_lists(*vs, counts, n, nv, parts, [&](int64_t q) { return 16 * (nt * q / parts); }, false);
          return;
        }
      }
    }
    if constexpr (std::is_same_v<T, float>) {
      if (stream != nullptr && use_avx2<T>()) return visible_avx2(h, pv, stream, v, vs);
    }
    gemm<T>(false, false, n, nv, nh, T(1), h, nh, w, nv, T(0), pv, nv);
    parallel_for(n, row_grain(nv), [&](int64_t r0, int64_t r1) { activate_rows<T>(pv, b, r0, r1, nv, stream, v, vs); });
  }

  // visible() on AVX2 (float only).
  void visible_avx2(const T* h, T* pv, const PhiloxStream* stream, T* v, const SparseRows<T>* vs) {
    // AVX2: h @ w as sums of the rows of w that h selects (h is 0/1: about half a GEMM's work for
    // a hidden layer half on, and no GEMM to call), then the draws. Threads take column ranges
    // (multiples of 8 units) of every row, each reading only its columns of w; their row lists
    // of nonzeros are joined after.
    const int64_t parts = visible_parts(), nb = (nv + 7) / 8;
    int32_t* counts = buf.part_counts.get(parts * n);
    parallel_for(parts, 1, [&](int64_t q0, int64_t q1) {
      thread_local AlignedBuffer<int32_t> lists, list_counts;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t c0 = std::min(nv, 8 * (nb * q / parts)), c1 = std::min(nv, 8 * (nb * (q + 1) / parts));
        if (c0 == c1) {
          for (int64_t r = 0; r < n; ++r) counts[q * n + r] = 0;
          continue;
        }
        rbm_avx2::binary_sums(h, n, nh, w, nv, c0, c1, pv, lists.get(n * nh), list_counts.get(n));
        if (vs != nullptr) {
          const SparseRows<T> part{vs->idx + c0, vs->val + c0, counts + q * n, nv};
          activate_block<T>(pv, b, 0, n, nv, c0, c1, stream, v, &part);
        } else {
          activate_block<T>(pv, b, 0, n, nv, c0, c1, stream, v, nullptr);
        }
      }
    });
    // part q's lists start at its first column c0, their indices counted from c0
    if (vs != nullptr)
      join_row_lists(*vs, counts, n, nv, parts, [&](int64_t q) { return std::min(nv, 8 * (nb * q / parts)); }, true);
  }

  // k >= 1 Gibbs steps from `start` (its nonzeros in starts when sparse) into v (not aliasing
  // start), v's nonzeros into vs; returns whether v is sparse.  With `first_drawn`, buf.h holds the
  // first hidden sample already (start is then not read).
  bool chain(const T* start, const SparseRows<T>* starts, bool first_drawn, int64_t k, uint64_t seed, uint64_t counter,
             T* v, const SparseRows<T>& vs) {
    T* ph = buf.ph.get(n * nh);
    T* h = buf.h.get(n * nh);
    T* pv = buf.pv.get(n * nv);
    const T* cur = start;
    const SparseRows<T>* curs = starts;
    int64_t total = 0;
    for (int64_t s = 0; s < k; ++s) {
      const PhiloxStream hidden_stream(seed, counter + 2 * static_cast<uint64_t>(s));
      const PhiloxStream visible_stream(seed, counter + 2 * static_cast<uint64_t>(s) + 1);
      if (s > 0 || !first_drawn) hidden(cur, curs, ph, &hidden_stream, h);
      visible(h, pv, &visible_stream, v, sparse_allowed() ? &vs : nullptr);
      total = sparse_allowed() ? total_count(vs, n) : n * nv;
      cur = v;
      curs = sparse_enough(total) ? &vs : nullptr;
    }
    return curs != nullptr;
  }
};

// Column means of a - b (rows, cols) into out, accumulated in double.
template <class T>
void mean_difference(const T* a, const T* b, T* out, int64_t rows, int64_t cols) {
  std::vector<double> sum(static_cast<size_t>(cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) sum[j] += static_cast<double>(a[r * cols + j]) - static_cast<double>(b[r * cols + j]);
  for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<T>(sum[j] / static_cast<double>(rows));
}

}  // namespace

template <class T>
void rbm_hidden_probs(const T* v, const T* w, const T* c, T* ph, int64_t n, int64_t nv, int64_t nh) {
  Rbm<T> rbm{w, nullptr, c, n, nv, nh};
  const SparseRows<T> vs = rbm.visible_nonzeros(rbm.buf.idx0, rbm.buf.val0, rbm.buf.count0);
  rbm.hidden(v, rbm.sparse(v, vs) ? &vs : nullptr, ph, nullptr, nullptr);
}

template <class T>
void rbm_visible_probs(const T* h, const T* w, const T* b, T* pv, int64_t n, int64_t nv, int64_t nh) {
  gemm<T>(false, false, n, nv, nh, T(1), h, nh, w, nv, T(0), pv, nv);
  parallel_for(n, row_grain(nv), [&](int64_t r0, int64_t r1) { activate_rows<T>(pv, b, r0, r1, nv, nullptr, nullptr, nullptr); });
}

template <class T>
void rbm_gibbs(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter, T* vk,
               T* hk, int64_t n, int64_t nv, int64_t nh) {
  Rbm<T> rbm{w, b, c, n, nv, nh};
  const SparseRows<T> s0 = rbm.visible_nonzeros(rbm.buf.idx0, rbm.buf.val0, rbm.buf.count0);
  const SparseRows<T> sk = rbm.visible_nonzeros(rbm.buf.idxk, rbm.buf.valk, rbm.buf.countk);
  bool sparse_k;
  if (k == 0) {
    std::copy(v0, v0 + n * nv, vk);
    sparse_k = rbm.sparse(vk, sk);
  } else {
    const bool sparse0 = rbm.sparse(v0, s0);
    sparse_k = rbm.chain(v0, sparse0 ? &s0 : nullptr, false, k, seed, counter, vk, sk);
  }
  const PhiloxStream last(seed, counter + 2 * static_cast<uint64_t>(k));
  rbm.hidden(vk, sparse_k ? &sk : nullptr, rbm.buf.ph.get(n * nh), &last, hk);
}

template <class T>
void rbm_cd(const T* v0, const T* w, const T* b, const T* c, int64_t k, uint64_t seed, uint64_t counter,
            const T* chain, T* dw, T* db, T* dc, T* chain_out, int64_t n, int64_t nv, int64_t nh) {
  Rbm<T> rbm{w, b, c, n, nv, nh};
  Buffers<T>& buf = rbm.buf;
  if ((use_avx512<T>() || use_avx2<T>()) && max_threads() > 1 && rbm.sparse_allowed()) {
    // The threads read a copy of w, made by this thread: a training loop updates w in place on this
    // thread after every call (w += lr * dw), and each line of w still held in another core's cache
    // makes that write wait for the line to be taken back.
    // NOTE: measured (rbm bench, 2 threads): the update after each call took 200 us instead of 40,
    // against about 40 us for the copy; four copies used in turn were no faster than one.
    T* copy = buf.w_copy.get(nh * nv);
    std::memcpy(copy, w, sizeof(T) * static_cast<size_t>(nh * nv));
    rbm.w = copy;
  }
  const SparseRows<T> s0 = rbm.visible_nonzeros(buf.idx0, buf.val0, buf.count0);
  const SparseRows<T> sk = rbm.visible_nonzeros(buf.idxk, buf.valk, buf.countk);
  T* ph0 = buf.ph0.get(n * nh);
  // Positive phase: probabilities of v0; they also drive the first draw of a chain starting at v0,
  // made in the same pass.
  const bool sparse0 = rbm.sparse(v0, s0);
  const bool draw_first = chain == nullptr && k > 0;
  const PhiloxStream first_stream(seed, counter);
  rbm.hidden(v0, sparse0 ? &s0 : nullptr, ph0, draw_first ? &first_stream : nullptr,
             draw_first ? buf.h.get(n * nh) : nullptr);
  bool sparse_k;
  if (k == 0) {
    std::copy(chain != nullptr ? chain : v0, (chain != nullptr ? chain : v0) + n * nv, chain_out);
    sparse_k = rbm.sparse(chain_out, sk);
  } else if (chain != nullptr) {
    const SparseRows<T> sc = rbm.visible_nonzeros(buf.idxk, buf.valk, buf.countk);
    // NOTE: sc and sk share storage: the chain's nonzeros are read by its first hidden product only,
    // before the first visible draw overwrites them.
    const bool sparse_chain = rbm.sparse(chain, sc);
    sparse_k = rbm.chain(chain, sparse_chain ? &sc : nullptr, false, k, seed, counter, chain_out, sk);
  } else {
    sparse_k = rbm.chain(v0, sparse0 ? &s0 : nullptr, true, k, seed, counter, chain_out, sk);
  }
  // Negative phase: phk = P(h | vk).
  T* phk = buf.ph.get(n * nh);
  rbm.hidden(chain_out, sparse_k ? &sk : nullptr, phk, nullptr, nullptr);
  const T inv_n = T(1) / static_cast<T>(n);
  // NOTE: the sparse statistics copy 32 hidden units' columns of ph0 and phk per pass (2 * 128 bytes
  // per row, kept in L1 for a batch of 100); larger batches take the two GEMMs.
  constexpr int64_t kSparseDwMaxRows = 4096;
  if (sparse0 && sparse_k && n <= kSparseDwMaxRows) {
    // dw = (ph0^T v0 - phk^T vk) / n from the column lists of v0 and vk.
    const int64_t nnz0 = std::max<int64_t>(1, total_count(s0, n)), nnzk = std::max<int64_t>(1, total_count(sk, n));
    SparseCols<T> c0{buf.col_start0.get(nv + 1), buf.col_idx0.get(nnz0), buf.col_val0.get(nnz0), false};
    SparseCols<T> ck{buf.col_startk.get(nv + 1), buf.col_idxk.get(nnzk), buf.col_valk.get(nnzk), false};
    // Three independent tasks (the threads share them out): the column lists of v0, those of vk, dc.
    parallel_for(3, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        thread_local std::vector<int32_t> next;
        next.resize(static_cast<size_t>(nv));
        if (t == 0) to_columns(s0, n, c0, next.data());
        if (t == 1) to_columns(sk, n, ck, next.data());
        if (t == 2) mean_difference(ph0, phk, dc, n, nh);
      }
    });
    // Threads take whole blocks of 16 visible units (see rbm_avx512::sparse_dw) and their db.
    parallel_for((nv + 15) / 16, 1, [&](int64_t q0, int64_t q1) {
      const int64_t j0 = 16 * q0, j1 = std::min(nv, 16 * q1);
      for (int64_t j = j0; j < j1; ++j) {
        double sum = 0.0;
        for (int32_t p = c0.start[j]; p < c0.start[j + 1]; ++p) sum += static_cast<double>(c0.val[p]);
        for (int32_t p = ck.start[j]; p < ck.start[j + 1]; ++p) sum -= static_cast<double>(ck.val[p]);
        db[j] = static_cast<T>(sum / static_cast<double>(n));
      }
      if constexpr (std::is_same_v<T, float>) {
        if (const IsaKernels* k = isa_kernels<T>()) {
          thread_local AlignedBuffer<float> scratch;
          return k->sparse_dw(c0, ph0, ck, phk, n, j0, j1, nh, nv, inv_n, dw, scratch.get(32 * (16 + 2 * n)));
        }
      }
      sparse_dw_portable(c0, ph0, ck, phk, j0, j1, nh, nv, inv_n, dw);
    });
  } else {
    gemm<T>(true, false, nh, nv, n, inv_n, ph0, nh, v0, nv, T(0), dw, nv);
    gemm<T>(true, false, nh, nv, n, -inv_n, phk, nh, chain_out, nv, T(1), dw, nv);
    mean_difference(v0, chain_out, db, n, nv);
    mean_difference(ph0, phk, dc, n, nh);
  }
}

RbmVisiblePath rbm_visible_path() {
  int path = g_visible_path.load(std::memory_order_relaxed);
  if (path < 0) {
    const int chosen = static_cast<int>(visible_path_supported(RbmVisiblePath::kAmx) ? RbmVisiblePath::kAmx
                                                                                     : RbmVisiblePath::kGemm);
    g_visible_path.compare_exchange_strong(path, chosen);
    path = g_visible_path.load(std::memory_order_relaxed);
  }
  return static_cast<RbmVisiblePath>(path);
}

bool set_rbm_visible_path(RbmVisiblePath path) {
  if (!visible_path_supported(path)) return false;
  g_visible_path.store(static_cast<int>(path), std::memory_order_relaxed);
  return true;
}

bool rbm_fit_epoch_supported() {
  return active_isa() == Isa::kAvx512 && rbm_visible_path() == RbmVisiblePath::kAmx && rbm_amx::bf16_available();
}

namespace {
std::atomic<int> g_epoch_products{static_cast<int>(RbmEpochProducts::kAuto)};
}  // namespace

RbmEpochProducts rbm_epoch_products() { return static_cast<RbmEpochProducts>(g_epoch_products.load()); }
void set_rbm_epoch_products(RbmEpochProducts products) { g_epoch_products.store(static_cast<int>(products)); }

bool rbm_fit_epoch(const RbmEpoch& e) {
  RbmEpoch run = e;
  run.products = g_epoch_products.load();
  return rbm_amx::fit_epoch(run);
}

bool rbm_fit_loop(const RbmEpoch& e) {
  const int64_t nv = e.nv, nh = e.nh, rows = e.rows, bs = std::min(e.batch, rows);
  if (e.check) {
    // the whole of x before anything changes (NaN fails too)
    std::atomic<bool> bad{false};
    parallel_for(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(nv, 1)), [&](int64_t r0, int64_t r1) {
      bool b = false;
      for (int64_t i = r0 * nv; i < r1 * nv; ++i) b |= !(e.x[i] >= 0.0f && e.x[i] <= 1.0f);
      if (b) bad = true;
    });
    if (bad) return false;
  }
  // scratch kept per calling thread, as rbm_cd's
  thread_local AlignedBuffer<float> v0_buf, dw_buf, db_buf, dc_buf, chain_buf;
  float* v0 = v0_buf.get(std::max<int64_t>(bs, 1) * nv);
  float* dw = dw_buf.get(nh * nv);
  float* db = db_buf.get(nv);
  float* dc = dc_buf.get(nh);
  float* chain_out = chain_buf.get(std::max<int64_t>(bs, 1) * nv);
  // p += lr * (d - weight_decay * p) (weight decay on w only), through velocity v with momentum,
  // in the float operations and order of RBM._epoch_loop's NumPy statements
  const float lr = e.lr, mom = e.momentum, wd = e.weight_decay;
  auto update = [&](float* p, const float* d, float* vel, int64_t size, bool decay) {
    parallel_for(size, 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float g = d[i];
        if (decay) g = g - wd * p[i];
        g = g * lr;
        if (mom != 0.0f) {
          vel[i] = vel[i] * mom;
          vel[i] = vel[i] + g;
          p[i] = p[i] + vel[i];
        } else {
          p[i] = p[i] + g;
        }
      }
    });
  };
  uint64_t counter = e.counter;
  for (int64_t start = 0; start < rows; start += bs) {
    const int64_t n = std::min(bs, rows - start);
    for (int64_t r = 0; r < n; ++r) {
      const int64_t src = e.order != nullptr ? e.order[start + r] : start + r;
      std::memcpy(v0 + r * nv, e.x + src * nv, sizeof(float) * static_cast<size_t>(nv));
    }
    rbm_cd<float>(v0, e.w, e.b, e.c, e.k, e.seed, counter, e.chain, dw, db, dc, chain_out, n, nv, nh);
    counter += 2 * static_cast<uint64_t>(e.k) + 1;
    if (e.chain != nullptr) std::memcpy(e.chain, chain_out, sizeof(float) * static_cast<size_t>(n * nv));
    if (e.gw != nullptr && start + bs >= rows) {
      std::memcpy(e.gw, dw, sizeof(float) * static_cast<size_t>(nh * nv));
      std::memcpy(e.gb, db, sizeof(float) * static_cast<size_t>(nv));
      std::memcpy(e.gc, dc, sizeof(float) * static_cast<size_t>(nh));
    }
    update(e.w, dw, e.vw, nh * nv, wd != 0.0f);
    update(e.b, db, e.vb, nv, false);
    update(e.c, dc, e.vc, nh, false);
  }
  if (e.probe > 0 && e.error != nullptr) {
    // the mean squared error of the mean-field reconstruction of x[:probe]
    thread_local AlignedBuffer<float> ph_buf, pv_buf;
    float* ph = ph_buf.get(e.probe * nh);
    float* pv = pv_buf.get(e.probe * nv);
    rbm_hidden_probs<float>(e.x, e.w, e.c, ph, e.probe, nv, nh);
    rbm_visible_probs<float>(ph, e.w, e.b, pv, e.probe, nv, nh);
    double sum = 0.0;
    for (int64_t i = 0; i < e.probe * nv; ++i) {
      const float d = pv[i] - e.x[i];
      sum += static_cast<double>(d * d);
    }
    *e.error = sum / (static_cast<double>(e.probe) * static_cast<double>(nv));
  }
  return true;
}

void philox_uniform(uint64_t seed, uint64_t counter, float* out, int64_t n) {
  const PhiloxStream stream(seed, counter);
  for (int64_t i = 0; i < n; ++i) out[i] = stream.uniform(static_cast<uint64_t>(i));
}

void philox_blocks(uint64_t seed, uint64_t counter, uint64_t block0, int64_t nblocks, float* out) {
  const PhiloxStream stream(seed, counter);
  // (the vector kernels write whole groups of 16 blocks)
  thread_local AlignedBuffer<float> units;
  float* u = units.get((nblocks + 15) / 16 * 64);
  philox_units<float>(stream, block0, nblocks, u);
  std::copy(u, u + 4 * nblocks, out);
}

bool rbm_sigmoid_coarse(const float* x, int64_t n, float* out) {
  if (detected_isa() != Isa::kAvx512) return false;
  rbm_amx::sigmoid_coarse(x, n, out);
  return true;
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
