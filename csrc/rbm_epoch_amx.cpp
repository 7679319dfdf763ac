// rbm_fit_epoch (rbm.h): a whole epoch of CD-k training in one call, float32, AVX-512 + AMX-BF16
// (and AVX512-BF16 for the bf16 splits).
//
// Why one call: a loop of rbm_cd calls spends most of its time moving w around.  Each call
// transposes w for the sparse hidden sums, packs it for the tile product, copies it so that the
// caller's update does not wait for lines held by the other core, and the caller's update reads
// and writes it again.  Here each part (one per thread) owns a range of visible columns of w for
// the whole epoch, in the layouts its products read, and updates them in place:
//   wt (columns x hidden, fp32): w^T, for the sparse hidden sums (a visible unit on selects its
//       row), the exact recomputation of open draws and the update;
//   bound (columns): the error bound of the visible draw's tile product (rbm_amx_common.h).
// The tile product is C^T = w^T h^T: its A operand, rows of wt split into bf16 parts hi + lo, is
// made one column tile at a time just before its product (kept for all columns it would take
// another 400 KB of L2 per part on MNIST-sized layers); its B operand, the hidden sample in the tile
// layout, is the 16 x 16 word transposes of the sample's bf16 rows.
//
// Per mini-batch (phases of run_phases, one part per thread, the threads meeting at a barrier after
// each phase; the same parts in order on one thread when the cores are oversubscribed, with the same
// bits):
//   per Gibbs step: the hidden rows (each part a range of rows: the parts' partial sums added in
//     part order, sigmoid, draw) - then the visible columns (each part its columns: tile product,
//     draws, and the partial hidden sums of the sample over its columns);
//   the negative phase's hidden rows (each part a range of rows) and their share of dc;
//   the statistics and the update of each part's columns (and every part's own copy of c, updated
//     the same way), with the next mini-batch's start: its data's nonzeros (read between dw's tile
//     products where dw takes them) and partial sums (and the persistent chain's).
// The hidden sums (v w^T over the part's columns) and dw go one of two ways, chosen per mini-batch
// and part by the share of units on (Epoch::dense; RbmEpochProducts in rbm.h to force either):
//   sparse: over the units on (row lists, bitmaps): the same float operations as rbm_cd;
//   dense (binary units): AMX tile products, the sums of the 0/1 rows times wt split into two bf16
//     parts, dw as [v0 | -vk]^T times [ph0 ; phk] split into two bf16 parts (each split within
//     2^-17 of each value: the sums and dw within a few times an fp32 GEMM's error).
//   Over the units on, the cost grows with their share and with how widely they spread over wt's
//   rows (L2 reads); the tile products cost the same at any share.
// What crosses between cores is the partial sums and the hidden rows.  The partial sums of the
// chain's steps alternate between two buffers, so that a part writing the next step's sums never
// overwrites sums another part still reads.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/parallel.h"
#include "rbm_amx_common.h"
#include "rbm_isa.h"

namespace pk::cpu::rbm_amx {

namespace {

constexpr uint16_t kBf16One = 0x3f80;

// The shares of units on above which the hidden sums (kSumsShare) and dw (kDwShare: of the data's
// and the sample's units together) go by the dense tile products (Epoch::dense).
// NOTE: measured (MNIST-sized layer, 784 -> 256, batches of 100, per part and mini-batch): the
// sums over the units on cost 18-25 us for data with 7% of the units on in a disc (its rows of wt
// mostly in L1), 45-55 at 13-15% (in a disc or spread uniformly), 95-108 at 20%, 167-178 at 50%;
// the dense sums 20-30 at any share, plus 13-20 to make wb once per mini-batch (for both sums; with
// wb split into three bf16 parts, exact products, they were 30-35 and 20-25).
// dw over the units on: 70 us (7% + 7%), 130-140 (13% + 13%), 209 (20% + 20%), 280 (50% + 50%);
// dense: 75-90.
constexpr double kSumsShare = 0.1;
constexpr double kDwShare = 0.2;

// Column tiles per pass of the dense dw (sums_tiles' row tiles there).
constexpr int64_t kDwTiles = 5;

// Rows per block of the reconstruction probe (its products run better on taller blocks than the
// mini-batches).
constexpr int64_t kProbeRows = 512;

// Sizes shared by the parts.
struct Shape {
  int64_t nv, nh;
  int64_t nhp;  // nh rounded up to 32 (the tile product's K blocks); the layouts' row length
  int64_t kb;   // nhp / 32
  int64_t nmax;  // rows of the largest mini-batch
  int64_t nrt;  // row tiles of 16 of the largest mini-batch
  int64_t words;  // 64-row words of the bitmaps of the largest mini-batch
  int64_t ct;  // column tiles of 16 of the hidden layer (nhp / 16)
  int64_t kr;  // K blocks of 32 rows of the largest mini-batch (the dense dw's K per phase)
};

// What a scan of rows of data found: units on, and the lanes of a unit on but not 1 (other) and of
// a value outside [0, 1] or NaN (bad).
struct ScanCounts {
  int64_t on = 0;
  __mmask16 other = 0, bad = 0;
};

// One part: visible columns j0 .. j0 + ncol - 1 (whole tiles of 16, nrow = 16 * tiles rows in the
// layouts, the rows past ncol zero).
struct Part {
  int64_t j0 = 0, ncol = 0, nrow = 0;
  int64_t kbv = 0;  // K blocks of 32 of the part's columns (the dense sums' K)
  // bq, vbq: the part's columns of b and its velocity (written back at the end, so that a failed
  // check leaves the caller's arrays as they were)
  // sc, sk: the partial hidden sums of the chain and of the Gibbs steps' samples; sk[0] also holds
  // the data's (s0) from the mini-batch's start until the hidden phase of its step 0 has read them
  // (step 0's sample sums are written after that phase's barrier): a smaller L2 footprint
  AlignedBuffer<float> wt, vt, bound, c, vc, bq, vbq, sc, sk[2], crow, units, grad;
  AlignedBuffer<uint16_t> hi, lo;  // one column tile's A tiles
  AlignedBuffer<uint16_t> on_mask, open_mask;  // one row's settled draws, chunk by chunk
  // row lists (column, value) of the data (0), the persistent chain (c) and the last sample (k),
  // column lists (row, value) of the data and the sample
  AlignedBuffer<int32_t> idx0, cnt0, idxc, cntc, idxk, cntk, cstart0, cidx0, cstartk, cidxk, next;
  AlignedBuffer<float> val0, valc, cval0;
  // binary data (every nonzero of the mini-batch's part 1): the rows of each column that are on in
  // the data (mask0) and in the sample (maskk) as bitmaps (words of 64 rows) in place of the
  // column lists
  bool binary = false;
  AlignedBuffer<uint64_t> mask0, maskk;
  // rm0, rmk: the data's and the sample's rows as 16-bit masks of their units on, chunk by chunk of
  // 16 columns (chunk c's at c * 64 words, rows past the mini-batch 0), transposed into mask0, maskk
  AlignedBuffer<uint16_t> rm0, rmk;
  // the part's rows' share of sum(ph0 - phk) over the rows (dc)
  AlignedBuffer<double> dsum;
  // the dense products (RbmEpochProducts::kDense, see dense_sums, dense_update):
  // wb: the sums' B tiles, the part's rows of wt split into two bf16 parts (pack_pairs; tile
  //   (kk, t) of part i at ((i * kbv + kk) * ct + t) * 512), made from wt when a dense sum first
  //   needs it (wb_fresh: made since load(); from then on each update repacks the rows it changed,
  //   repack_rows, so it stays wt's split);
  // ak: the data's rows over the part's columns as bf16 (16 nrt rows of 32 kbv) in the mini-batch's
  //   start, the sample's in its Gibbs steps (one buffer: a smaller L2 footprint);
  // dwa, dwc: the dense dw's A rows (kDwTiles column tiles' rows over K = [data rows | sample
  //   rows], 1 and -1 from the bitmaps) and C rows (16 kDwTiles x nhp)
  AlignedBuffer<uint16_t> wb, ak, dwa;
  AlignedBuffer<float> dwc;
  bool wb_fresh = false, dense_dw = false;
  bool s0_dense = false;  // whether the data's last sums went by the tile products
  int64_t nnz0 = 0, nnzk = 0;  // units on in the mini-batch's data and last sample (the part's columns)
  // the reconstruction probe's blocks of rows: row lists, partial sums, its columns' share of the
  // squared error
  AlignedBuffer<int32_t> pidx, pcnt;
  AlignedBuffer<float> pval, psum;
  // the probe's tile products: the hidden rows split into two bf16 parts (row-major, A tiles),
  // w's columns split into two bf16 parts in the B tile layout (tile (kk, jt) of part i at
  // ((i * kb + kk) * tiles + jt) * 512)
  AlignedBuffer<uint16_t> pa, pb;
  AlignedBuffer<uint16_t> pa0;  // the probe rows as bf16 for the dense sums (as a0; 16 whole row tiles)
  double squares = 0.0;
  // the scan of a mini-batch's data (Epoch::scan_rows): which, how far, and what it found so far
  struct Scan {
    int64_t i = -1, n = 0, r = 0, nnz = 0;
    bool lists = false, outside = false;
    ScanCounts counts;
  } scan;
};

// The hidden layer's rows, shared by the parts (each part computes a range of rows): the
// probabilities of the positive and negative phases, the hidden sample in the visible product's
// tile layout (hbt, zero past nh and past the batch up to the next tile of 16 rows) and as row
// lists (hidx, hcnt).
struct Rows {
  AlignedBuffer<float> ph0, phk, d;  // d = ph0 - phk
  AlignedBuffer<float> pph;  // the reconstruction probe's block of hidden rows
  // hbt: the sample as the visible product's B tiles: tile (kk, rt) (at (kk * nrt + rt) * 512) row q
  // holds the bf16 pairs (h[16 rt + i, 32 kk + 2q], h[.., 32 kk + 2q + 1]) for i < 16 (rows past the
  // mini-batch 0)
  AlignedBuffer<uint16_t> hbt;
  AlignedBuffer<int32_t> hidx, hcnt;
  // the dense dw's B tiles: the rows of ph0 (K blocks 0 .. kr - 1) and of phk (kr .. 2 kr - 1) split
  // into two bf16 parts, pairs of rows interleaved (pack_pairs; tile (kk, t) of part i at
  // ((i * 2 kr + kk) * ct + t) * 512)
  AlignedBuffer<uint16_t> pb;
};

float hsum(__m512 x) { return _mm512_reduce_add_ps(x); }

// acc[0 .. NV) (16 floats each) += x * base[idx[p] * ld ..] over p in [p0, p1), x = val[p] (kVal)
// or 1; kSub: subtracts instead (x = 1).
template <int NV, bool kVal, bool kSub>
inline void accumulate(__m512* acc, const int32_t* idx, const float* val, int32_t p0, int32_t p1, const float* base,
                       int64_t ld) {
  for (int32_t p = p0; p < p1; ++p) {
    const float* src = base + static_cast<int64_t>(idx[p]) * ld;
    if constexpr (kVal) {
      const __m512 x = _mm512_set1_ps(val[p]);
      for (int i = 0; i < NV; ++i) acc[i] = _mm512_fmadd_ps(x, _mm512_load_ps(src + 16 * i), acc[i]);
    } else if constexpr (kSub) {
      for (int i = 0; i < NV; ++i) acc[i] = _mm512_sub_ps(acc[i], _mm512_load_ps(src + 16 * i));
    } else {
      for (int i = 0; i < NV; ++i) acc[i] = _mm512_add_ps(acc[i], _mm512_load_ps(src + 16 * i));
    }
  }
}

// out[r * ld + h0 ..] for hidden units h0 .. h0 + 16 NV - 1: the sum over row r's list of
// val * wt[column * ld + h0 ..] (kVal) or of the rows alone.
template <int NV, bool kVal>
void row_sums_block(const int32_t* idx, const float* val, const int32_t* cnt, int64_t cap, int64_t n,
                    const float* wt, int64_t ld, int64_t h0, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    __m512 acc[NV];
    for (int i = 0; i < NV; ++i) acc[i] = _mm512_setzero_ps();
    accumulate<NV, kVal, false>(acc, idx + r * cap, val + r * cap, 0, cnt[r], wt + h0, ld);
    for (int i = 0; i < NV; ++i) _mm512_store_ps(out + r * ld + h0 + 16 * i, acc[i]);
  }
}

template <bool kVal>
void row_sums(const int32_t* idx, const float* val, const int32_t* cnt, int64_t cap, int64_t n, const float* wt,
              int64_t ld, float* out) {
  for (int64_t h0 = 0; h0 < ld; h0 += 256) {
    switch (std::min<int64_t>(16, (ld - h0) / 16)) {
      case 16: row_sums_block<16, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
      case 14: row_sums_block<14, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
      case 12: row_sums_block<12, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
      case 10: row_sums_block<10, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
      case 8: row_sums_block<8, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
      case 6: row_sums_block<6, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
      case 4: row_sums_block<4, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
      default: row_sums_block<2, kVal>(idx, val, cnt, cap, n, wt, ld, h0, out); break;
    }
  }
}

// The row lists (idx, ncol apart: the units on of each row in increasing order) of n rows from their
// 16-column masks rm (Part::rmk).
void lists_from_rows(const uint16_t* rm, int64_t words, int64_t n, int64_t ncol, int32_t* idx) {
  const int64_t rows = 64 * words;
  const __m512i step = _mm512_set1_epi32(16);
  for (int64_t r = 0; r < n; ++r) {
    int32_t* out = idx + r * ncol;
    int32_t count = 0;
    __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t c = 0; 16 * c < ncol; ++c) {
      const __mmask16 on = rm[c * rows + r];
      const int n_on = __builtin_popcount(on);
      _mm512_mask_storeu_epi32(out + count, first_lanes(n_on), _mm512_maskz_compress_epi32(on, index));
      count += n_on;
      index = _mm512_add_epi32(index, step);
    }
  }
}

// Bits start .. start + 31 of the bit string of `words` 64-bit words (0 outside it; start may be
// negative).
inline uint32_t bits32(const uint64_t* w, int64_t words, int64_t start) {
  if (start <= -32 || start >= 64 * words) return 0;
  if (start < 0) return static_cast<uint32_t>(w[0] << (-start));
  const int64_t q = start / 64, r = start % 64;
  uint64_t v = w[q] >> r;
  if (r > 32 && q + 1 < words) v |= w[q + 1] << (64 - r);
  return static_cast<uint32_t>(v);
}

// Row xr of the data over ncol columns (nullptr: a row of zeros) as bf16 into ar (32 kbv words:
// exact for binary data, the only data the dense sums take); with rm, its 16-column masks of units
// on (chunk c's at rm[c * rows]); kCount: its units on, other and bad lanes added to *counts.
template <bool kCount>
inline void scan_row(const float* xr, int64_t ncol, int64_t kbv, uint16_t* ar, uint16_t* rm, int64_t rows,
                     ScanCounts* counts) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  for (int64_t jl = 0; jl < 32 * kbv; jl += 32) {
    // (the lanes past ncol load as 0: neither on nor outside)
    const __m512 lo = xr != nullptr ? _mm512_maskz_loadu_ps(lanes(ncol - jl), xr + jl) : zero;
    const __m512 hi = xr != nullptr ? _mm512_maskz_loadu_ps(lanes(ncol - jl - 16), xr + jl + 16) : zero;
    _mm512_store_si512(ar + jl, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
    const __mmask16 on_lo = _mm512_cmp_ps_mask(lo, zero, _CMP_NEQ_UQ);
    const __mmask16 on_hi = _mm512_cmp_ps_mask(hi, zero, _CMP_NEQ_UQ);
    if (rm != nullptr) {
      rm[(jl / 16) * rows] = on_lo;
      rm[(jl / 16 + 1) * rows] = on_hi;
    }
    if constexpr (kCount) {
      counts->on += __builtin_popcount(on_lo) + __builtin_popcount(on_hi);
      counts->other |= static_cast<__mmask16>(on_lo & ~_mm512_cmp_ps_mask(lo, one, _CMP_EQ_OQ)) |
                       static_cast<__mmask16>(on_hi & ~_mm512_cmp_ps_mask(hi, one, _CMP_EQ_OQ));
      counts->bad |= _mm512_cmp_ps_mask(lo, zero, _CMP_NGE_UQ) | _mm512_cmp_ps_mask(lo, one, _CMP_GT_OQ) |
                     _mm512_cmp_ps_mask(hi, zero, _CMP_NGE_UQ) | _mm512_cmp_ps_mask(hi, one, _CMP_GT_OQ);
    }
  }
}

// Bitmaps (words per column) of ncol columns from the rows' 16-column masks rm (Part::rm0): bit r of
// column j is bit j mod 16 of row r's mask in chunk j / 16; a bit test per column and 32 rows.
// NOTE: measured (MNIST-sized epoch, per part and bitmap): 14.5 us for data half on by setting each
// unit's bit from the row lists (6.6 at 15% on, 3.5 at 7%), 0.8-0.9 here at any share.
void masks_from_rows(const uint16_t* rm, int64_t ncol, int64_t words, uint64_t* mask) {
  const int64_t rows = 64 * words;
  for (int64_t c = 0; 16 * c < ncol; ++c) {
    const uint16_t* m = rm + c * rows;
    for (int64_t w = 0; w < words; ++w) {
      const __m512i lo = _mm512_load_si512(m + 64 * w), hi = _mm512_load_si512(m + 64 * w + 32);
      for (int64_t j = 0; j < std::min<int64_t>(16, ncol - 16 * c); ++j) {
        const __m512i bit = _mm512_set1_epi16(static_cast<int16_t>(1 << j));
        mask[(16 * c + j) * words + w] = static_cast<uint64_t>(_mm512_test_epi16_mask(lo, bit)) |
                                         (static_cast<uint64_t>(_mm512_test_epi16_mask(hi, bit)) << 32);
      }
    }
  }
}

// Whether every value of n row lists is 1.
bool all_ones(const float* val, const int32_t* cnt, int64_t cap, int64_t n) {
  __mmask16 other = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int32_t p = 0; p < cnt[r]; p += 16) {
      const __mmask16 in = lanes(cnt[r] - p);
      other |= _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, val + r * cap + p), _mm512_set1_ps(1.0f), _CMP_NEQ_UQ);
    }
  return other == 0;
}

// acc[0 .. NV) += the rows base[r * ld ..] (kSub: -=) for the rows r set in the words of `mask`.
template <int NV, bool kSub, class Mask>
inline void accumulate_rows(__m512* acc, int64_t words, Mask mask, const float* base, int64_t ld) {
  for (int64_t w = 0; w < words; ++w) {
    for (uint64_t m = mask(w); m != 0; m &= m - 1) {
      const float* src = base + (64 * w + __builtin_ctzll(m)) * ld;
      for (int i = 0; i < NV; ++i)
        acc[i] = kSub ? _mm512_sub_ps(acc[i], _mm512_load_ps(src + 16 * i)) : _mm512_add_ps(acc[i], _mm512_load_ps(src + 16 * i));
    }
  }
}

// Rows 0 .. rows - 1 of m (ld floats each, a multiple of 32; rows at `valid` and beyond read as 0)
// split into bf16 rows hi, lo (ld words apart): hi = x rounded to nearest even, lo = x - hi rounded.
void split_rows(const float* m, int64_t ld, int64_t rows, int64_t valid, uint16_t* hi, uint16_t* lo) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < ld; k += 32) {
      __m512 x0 = r < valid ? _mm512_load_ps(m + r * ld + k) : _mm512_setzero_ps();
      __m512 x1 = r < valid ? _mm512_load_ps(m + r * ld + k + 16) : _mm512_setzero_ps();
      _mm512_store_si512(hi + r * ld + k, bf16_part(&x0, &x1));
      _mm512_store_si512(lo + r * ld + k, (__m512i)_mm512_cvtne2ps_pbh(x1, x0));
    }
  }
}

// Rows 16 jt .. 16 jt + 15 of wt split into bf16 rows hi, lo (16 x nhp each; hi = w rounded to
// nearest even, lo = w - hi rounded, as split_bf16 but by vcvtne2ps2bf16, which flushes subnormal
// inputs: the bound's 1e-30 covers them): the A tiles of column tile jt in the visible draw's product.
// NOTE: measured (MNIST-sized epoch): 27.0 -> 25.7 ms against split_bf16 and 16-bit packs.
void pack_rows(Part& p, const Shape& s, int64_t jt) {
  split_rows(p.wt.get(0) + 16 * jt * s.nhp, s.nhp, 16, 16, p.hi.get(0), p.lo.get(0));
}

// Pairs pr0 .. pr1 - 1 (in K block kk: (pr + shift) / 16 = kk) of the rows of m (pair pr: rows 2 pr
// and 2 pr + 1, ld floats apart; rows at `valid` and beyond read as 0) split into two bf16 parts,
// pair pr into row (pr + shift) mod 16 of the B tiles of K block kk: for each column tile t of 16,
// the pairs (m[2 pr, 16 t + i], m[2 pr + 1, 16 t + i]), i < 16, at dst + (kk * ct + t) * 512 + 32
// ((pr + shift) mod 16) of each part (parts `plane` words apart).  Tile by tile (t outer), each
// written in one stream.
// The parts: hi = x rounded to nearest even, lo = x - hi rounded (|x - hi - lo| <= 2^-17 |x|), by
// vcvtne2ps2bf16, which flushes subnormal inputs and results to 0 where split_bf16 keeps them: the
// same products, as the tiles flush subnormal bf16 inputs.  One conversion makes a pair's 32 words,
// one word permute interleaves them, and hi's floats come back from the interleaved pair by a shift
// and a mask.
// NOTE: measured (wb of 392 rows of 256, in L2, best of 200): 11.5 us against 13.8 with
// split_bf16 (rounding by integer operations: 26 operations a pair of 16 values against 8 here);
// the same bits.
void pack_pairs(const float* m, int64_t ld, int64_t valid, int64_t pr0, int64_t pr1, int64_t ct, int64_t kk,
                uint16_t* dst, int64_t plane, int64_t shift = 0) {
  // word 2 i of the pair: a's i-th (word i of the conversion), word 2 i + 1: b's (word 16 + i)
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i high = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  for (int64_t t = 0; t < ct; ++t) {
    uint16_t* tile = dst + (kk * ct + t) * 512;
    for (int64_t pr = pr0; pr < pr1; ++pr) {
      const __m512 a = 2 * pr < valid ? _mm512_load_ps(m + 2 * pr * ld + 16 * t) : _mm512_setzero_ps();
      const __m512 b = 2 * pr + 1 < valid ? _mm512_load_ps(m + (2 * pr + 1) * ld + 16 * t) : _mm512_setzero_ps();
      const __m512i hi = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(b, a));
      const __m512 ra = _mm512_sub_ps(a, _mm512_castsi512_ps(_mm512_slli_epi32(hi, 16)));
      const __m512 rb = _mm512_sub_ps(b, _mm512_castsi512_ps(_mm512_and_si512(hi, high)));
      const __m512i lo = _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(rb, ra));
      uint16_t* row = tile + 32 * ((pr + shift) & 15);
      _mm512_store_si512(row, hi);
      _mm512_store_si512(row + plane, lo);
    }
  }
}

// C tiles of row tiles 0 .. G - 1 (G <= 5; tmm0 .. G-1) and column tile t, over K blocks k0 .. k1 - 1
// of kb: the row tile's A (bf16 rows of 32 kb at a, tmm7) times the two parts of the B tile
// (tmm5-6, loaded once for the G row tiles), smaller part first, added to out's tiles (rows ld
// floats apart; from 0 for k0 = 0) and stored back: the same operations as in one pass over the K
// blocks.  The hidden sums' tiles (row tiles of the mini-batch, K over the part's columns) and the
// dense dw's (row tiles of the part's columns, K over the data's and the sample's rows).
// NOTE: measured (dense dw of 25 column tiles, with a stand-in for the update's traffic): 45.4 us
// with five row tiles a call against 49.8 with three (the B tiles read from L2 once per call: 5
// passes over them instead of 9).
template <int G>
void sums_tiles(const uint16_t* a, int64_t kb, int64_t k0, int64_t k1, const uint16_t* b, int64_t plane, int64_t ct,
                int64_t t, float* out, int64_t ld) {
  const int64_t astride = 32 * kb;
  static_assert(G >= 1 && G <= 5, "tmm0 .. 4 hold the C tiles");
  if (k0 == 0) {
    _tile_zero(0);
    if constexpr (G > 1) _tile_zero(1);
    if constexpr (G > 2) _tile_zero(2);
    if constexpr (G > 3) _tile_zero(3);
    if constexpr (G > 4) _tile_zero(4);
  } else {
    _tile_loadd(0, out + 16 * t, 4 * ld);
    if constexpr (G > 1) _tile_loadd(1, out + 16 * ld + 16 * t, 4 * ld);
    if constexpr (G > 2) _tile_loadd(2, out + 32 * ld + 16 * t, 4 * ld);
    if constexpr (G > 3) _tile_loadd(3, out + 48 * ld + 16 * t, 4 * ld);
    if constexpr (G > 4) _tile_loadd(4, out + 64 * ld + 16 * t, 4 * ld);
  }
  for (int64_t kk = k0; kk < k1; ++kk) {
    const uint16_t* bk = b + (kk * ct + t) * 512;
    _tile_loadd(5, bk + plane, 64);
    _tile_loadd(6, bk, 64);
#define PK_SUMS_TILE(C)                                               \
    _tile_loadd(7, a + (C) * 16 * astride + 32 * kk, 2 * astride); \
    _tile_dpbf16ps(C, 7, 5);                                         \
    _tile_dpbf16ps(C, 7, 6);
    PK_SUMS_TILE(0)
    if constexpr (G > 1) {
      PK_SUMS_TILE(1)
    }
    if constexpr (G > 2) {
      PK_SUMS_TILE(2)
    }
    if constexpr (G > 3) {
      PK_SUMS_TILE(3)
    }
    if constexpr (G > 4) {
      PK_SUMS_TILE(4)
    }
#undef PK_SUMS_TILE
  }
  _tile_stored(0, out + 16 * t, 4 * ld);
  if constexpr (G > 1) _tile_stored(1, out + 16 * ld + 16 * t, 4 * ld);
  if constexpr (G > 2) _tile_stored(2, out + 32 * ld + 16 * t, 4 * ld);
  if constexpr (G > 3) _tile_stored(3, out + 48 * ld + 16 * t, 4 * ld);
  if constexpr (G > 4) _tile_stored(4, out + 64 * ld + 16 * t, 4 * ld);
}

// The error bound of the visible unit of row jl of wt.
void bound_row(Part& p, const Shape& s, int64_t jl) {
  const float* row = p.wt.get(0) + jl * s.nhp;
  __m512 colsum = _mm512_setzero_ps();
  for (int64_t h = 0; h < s.nhp; h += 16) colsum = _mm512_add_ps(colsum, _mm512_abs_ps(_mm512_load_ps(row + h)));
  p.bound.get(0)[jl] = column_bound(hsum(colsum), s.nh);
}

// wb from the part's rows of wt, unless it is fresh.
void make_wb(Part& p, const Shape& s) {
  if (p.wb_fresh) return;
  const int64_t plane = p.kbv * s.ct * 512;
  for (int64_t kk = 0; kk < p.kbv; ++kk) pack_pairs(p.wt.get(0), s.nhp, p.nrow, 16 * kk, 16 * kk + 16, s.ct, kk, p.wb.get(0), plane);
  p.wb_fresh = true;
}

// After the update of row jl of wt (the rows in increasing order): once wb has been made, the pairs
// of each 16 rows are packed again as the 16th is done, while the rows are in L1 (the rows past
// ncol stay 0), so that wb stays fresh.
// NOTE: measured (MNIST-sized epoch, TSC cycles per part and epoch): the hidden sums of the data
// 9.3-10.6 M with make_wb reading wt from L2, 5.8-7.4 M here, where the update grows by 2.5-3.5 M
// (by 4-5 M repacking pair by pair).
inline void repack_rows(Part& p, const Shape& s, int64_t jl) {
  if (!p.wb_fresh || (jl % 16 != 15 && jl + 1 < p.ncol)) return;
  const int64_t pr0 = (jl - jl % 16) >> 1, pr1 = (jl >> 1) + 1;  // (in one K block of 16 pairs)
  pack_pairs(p.wt.get(0), s.nhp, p.nrow, pr0, pr1, s.ct, pr0 >> 4, p.wb.get(0), p.kbv * s.ct * 512);
}

// out (rows 0 .. 16 ceil(n / 16) - 1, nhp floats apart) = a (bf16 rows of 0/1 over the part's
// columns) times wt^T over those columns, by tile products of wt's two-part bf16 split (each weight
// within 2^-17 of its own: the sums within a few times an fp32 GEMM's error; its rows past n are
// not used).
// (Measured against the sums over the units on: see kSumsShare.)
void dense_sums(Part& p, const Shape& s, const uint16_t* a, int64_t n, float* out) {
  make_wb(p, s);
  const int64_t rt = (n + 15) / 16, plane = p.kbv * s.ct * 512, astride = 32 * p.kbv;
  const uint16_t* b = p.wb.get(0);
  configure_tiles();
  // a row group's A tiles of kChunk K blocks (28 KB) stay in L1 across the column tiles, the B
  // tiles streaming from L2
  // NOTE: measured (MNIST-sized layer, 100 rows, half the columns; the sample's sums): 38-40 -> 32-34
  // us against all 13 K blocks per column tile (every A tile from L2 again for each column tile).
  constexpr int64_t kChunk = 7;
  for (int64_t g = 0; g < rt; g += 4) {
    const uint16_t* ag = a + g * 16 * astride;
    float* og = out + g * 16 * s.nhp;
    for (int64_t k0 = 0; k0 < p.kbv; k0 += kChunk) {
      const int64_t k1 = std::min(p.kbv, k0 + kChunk);
      for (int64_t t = 0; t < s.ct; ++t) {
        switch (std::min<int64_t>(4, rt - g)) {
          case 4: sums_tiles<4>(ag, p.kbv, k0, k1, b, plane, s.ct, t, og, s.nhp); break;
          case 3: sums_tiles<3>(ag, p.kbv, k0, k1, b, plane, s.ct, t, og, s.nhp); break;
          case 2: sums_tiles<2>(ag, p.kbv, k0, k1, b, plane, s.ct, t, og, s.nhp); break;
          default: sums_tiles<1>(ag, p.kbv, k0, k1, b, plane, s.ct, t, og, s.nhp); break;
        }
      }
    }
  }
  _tile_release();
}

// Allocations of one part (on the calling thread, so that a failure is an exception there; the
// pages are first written by the part's own thread).
void allocate(Part& p, const Shape& s, bool momentum, bool chain) {
  // hid: the hidden layer's rows, up to a whole row tile (the dense sums store whole tiles)
  const int64_t lay = p.nrow * s.nhp, hid = 16 * s.nrt * s.nhp, lists = s.nmax * p.ncol;
  p.wt.get(lay);
  if (momentum) p.vt.get(lay);
  p.on_mask.get(p.nrow / 16);
  p.open_mask.get(p.nrow / 16);
  p.hi.get(16 * s.nhp);
  p.lo.get(16 * s.nhp);
  p.bound.get(p.nrow);
  p.c.get(s.nhp);
  p.vc.get(s.nhp);
  p.bq.get(p.nrow);
  p.vbq.get(p.nrow);
  if (chain) p.sc.get(hid);
  p.sk[0].get(hid);
  p.sk[1].get(hid);
  p.crow.get(16 * s.nrt * p.nrow);
  p.units.get((std::max(s.nmax * s.nh, p.ncol) + 8 + 63) / 64 * 64 + 64);
  p.grad.get(p.nrow * s.nhp);
  p.idx0.get(lists);
  p.val0.get(lists);
  p.cnt0.get(s.nmax);
  if (chain) {
    p.idxc.get(lists);
    p.valc.get(lists);
    p.cntc.get(s.nmax);
  }
  p.idxk.get(lists);
  p.cntk.get(s.nmax);
  p.cstart0.get(p.ncol + 1);
  p.cidx0.get(lists);
  p.cval0.get(lists);
  p.cstartk.get(p.ncol + 1);
  p.cidxk.get(lists);
  p.mask0.get(p.ncol * s.words);
  p.maskk.get(p.ncol * s.words);
  p.rm0.get(2 * p.kbv * 64 * s.words);
  p.rmk.get(2 * p.kbv * 64 * s.words);
  p.next.get(p.ncol);
  p.dsum.get(s.nhp);
  p.wb.get(2 * p.kbv * s.ct * 512);
  const int64_t arows = 16 * s.nrt * 32 * p.kbv;
  // zero: the columns past ncol and the rows past the mini-batch enter the tile products
  std::memset(p.ak.get(arows), 0, sizeof(uint16_t) * static_cast<size_t>(arows));
  p.dwa.get(16 * kDwTiles * 64 * s.kr);
  p.dwc.get(16 * kDwTiles * s.nhp);
}

// Columns j0 .. j0 + ncol - 1 of m (nh x nv, row-major) into t (nrow x nhp: row jl holds column
// j0 + jl), zero past nh and past ncol; 16 x 16 blocks at a time.
void transpose_in(const float* m, const Shape& s, const Part& p, float* t) {
  for (int64_t jl = 0; jl < p.nrow; jl += 16) {
    const __mmask16 in = lanes(p.ncol - jl);
    for (int64_t h = 0; h < s.nhp; h += 16) {
      __m512 x[16];
      for (int i = 0; i < 16; ++i)
        x[i] = h + i < s.nh ? _mm512_maskz_loadu_ps(in, m + (h + i) * s.nv + p.j0 + jl) : _mm512_setzero_ps();
      transpose16(x);
      for (int i = 0; i < 16; ++i) _mm512_store_ps(t + (jl + i) * s.nhp + h, x[i]);
    }
  }
}

// The inverse of transpose_in: t's rows back into columns j0 .. j0 + ncol - 1 of m.
void transpose_out(const float* t, const Shape& s, const Part& p, float* m) {
  for (int64_t jl = 0; jl < p.nrow; jl += 16) {
    const __mmask16 in = lanes(p.ncol - jl);
    for (int64_t h = 0; h < s.nhp; h += 16) {
      __m512 x[16];
      for (int i = 0; i < 16; ++i) x[i] = _mm512_load_ps(t + (jl + i) * s.nhp + h);
      transpose16(x);
      for (int i = 0; i < 16 && h + i < s.nh; ++i) _mm512_mask_storeu_ps(m + (h + i) * s.nv + p.j0 + jl, in, x[i]);
    }
  }
}

// The part's layouts and its copies of c and vc from the caller's arrays.
void load(Part& p, const Shape& s, const RbmEpoch& e) {
  transpose_in(e.w, s, p, p.wt.get(0));
  p.wb_fresh = false;
  p.scan = Part::Scan{};  // (the parts outlive an epoch)
  if (e.momentum != 0.0f) transpose_in(e.vw, s, p, p.vt.get(0));
  for (int64_t jl = 0; jl < p.nrow; ++jl) bound_row(p, s, jl);
  float* c = p.c.get(0);
  float* vc = p.vc.get(0);
  for (int64_t h = 0; h < s.nhp; ++h) {
    c[h] = h < s.nh ? e.c[h] : 0.0f;
    vc[h] = h < s.nh && e.momentum != 0.0f ? e.vc[h] : 0.0f;
  }
  for (int64_t jl = 0; jl < p.nrow; ++jl) {
    p.bq.get(0)[jl] = jl < p.ncol ? e.b[p.j0 + jl] : 0.0f;
    p.vbq.get(0)[jl] = jl < p.ncol && e.momentum != 0.0f ? e.vb[p.j0 + jl] : 0.0f;
  }
}

// w and vw of the part's columns (and, for part 0, c and vc) back into the caller's arrays.
void store(Part& p, const Shape& s, const RbmEpoch& e, bool first) {
  transpose_out(p.wt.get(0), s, p, e.w);
  if (e.momentum != 0.0f) transpose_out(p.vt.get(0), s, p, e.vw);
  std::copy(p.bq.get(0), p.bq.get(0) + p.ncol, e.b + p.j0);
  if (e.momentum != 0.0f) std::copy(p.vbq.get(0), p.vbq.get(0) + p.ncol, e.vb + p.j0);
  if (first) {
    std::copy(p.c.get(0), p.c.get(0) + s.nh, e.c);
    if (e.momentum != 0.0f) std::copy(p.vc.get(0), p.vc.get(0) + s.nh, e.vc);
  }
}

// Rows r0 .. r1 - 1 of an n-row hidden layer from the parts' partial sums: ph = sigmoid(sum over
// parts + c) (0 past nh); with `stream`, the draw h ~ ph into rows' hbt (each 32 units of a row, 16
// pairs, scattered to their column of the tile), hidx and hcnt.
// NOTE: measured (MNIST-sized epoch, per part and mini-batch): the scatters cost about 1 us here,
// where each part's 16 x 16 transposes of all rows of the sample in the visible phase took 5-6 us.
void hidden_layer(Part& p, const Shape& s, const float* const* sums, int parts, int64_t r0, int64_t r1, int64_t n,
                  float* ph, const PhiloxStream* stream, Rows& rows) {
  const float* c = p.c.get(0);
  int32_t* hbt = reinterpret_cast<int32_t*>(rows.hbt.get(0));  // (dwords: bf16 pairs)
  // dword q of a row's K block kk goes to row q, column i of tile (kk, rt) for the row 16 rt + i
  const __m512i rows16 = _mm512_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240);
  int32_t* hidx = rows.hidx.get(0);
  int32_t* hcnt = rows.hcnt.get(0);
  const float* u = nullptr;  // u[(r - r0) * nh + h]: the uniform of unit (r, h)
  if (stream != nullptr && r1 > r0) {
    const uint64_t first = static_cast<uint64_t>(r0 * s.nh), block0 = first >> 2;
    const uint64_t end = static_cast<uint64_t>(r1 * s.nh);
    rbm_avx512::philox_units(*stream, block0, static_cast<int64_t>(((end + 3) >> 2) - block0), p.units.get(0));
    u = p.units.get(0) + (first & 3);
  }
  const __m512i one = _mm512_set1_epi16(static_cast<int16_t>(kBf16One));
  constexpr int64_t kAhead = 3;  // rows of the partial sums prefetched ahead (most written by other cores)
  for (int64_t r = r0; r < r1; ++r) {
    if (r + kAhead < r1)
      for (int q = 0; q < parts; ++q)
        for (int64_t h = 0; h < s.nhp; h += 16) _mm_prefetch(reinterpret_cast<const char*>(sums[q] + (r + kAhead) * s.nhp + h), _MM_HINT_T0);
    int32_t count = 0;
    __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    uint32_t on32 = 0;  // the units on of this K block of 32
    int32_t* hrow = hbt + (r / 16) * 256 + (r % 16);
    for (int64_t h = 0; h < s.nhp; h += 16) {
      const __mmask16 in = lanes(s.nh - h);
      __m512 x = _mm512_load_ps(sums[0] + r * s.nhp + h);
      for (int q = 1; q < parts; ++q) x = _mm512_add_ps(x, _mm512_load_ps(sums[q] + r * s.nhp + h));
      const __m512 pr = _mm512_maskz_mov_ps(in, sigmoid16(_mm512_add_ps(x, _mm512_load_ps(c + h))));
      _mm512_store_ps(ph + r * s.nhp + h, pr);
      if (u != nullptr) {
        const __mmask16 on = _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, u + (r - r0) * s.nh + h), pr, _CMP_LT_OQ);
        on32 |= static_cast<uint32_t>(on) << (h & 16);
        if (h & 16) {
          _mm512_i32scatter_epi32(hrow + (h / 32) * s.nrt * 256, rows16, _mm512_maskz_mov_epi16(on32, one), 4);
          on32 = 0;
        }
        _mm512_mask_storeu_epi32(hidx + r * s.nhp + count, first_lanes(__builtin_popcount(on)), _mm512_maskz_compress_epi32(on, index));
        count += __builtin_popcount(on);
      }
      index = _mm512_add_epi32(index, _mm512_set1_epi32(16));
    }
    if (u != nullptr) hcnt[r] = count;
  }
  if (stream != nullptr && r1 == n) {  // the rows past n of the last row tile: 0
    for (int64_t r = n; r < (n + 15) / 16 * 16; ++r)
      for (int64_t kk = 0; kk < s.kb; ++kk)
        _mm512_i32scatter_epi32(hbt + (kk * s.nrt + r / 16) * 256 + r % 16, rows16, _mm512_setzero_si512(), 4);
  }
}

// C^T tiles of column tile jt and row tiles g .. g + G - 1 (tmm0 .. G-1): the sum over the K blocks
// of A = hi, lo (tmm4, tmm5; loaded once for the G row tiles) times the row tile's hbt tile (tmm6);
// transposed into crow.
template <int G>
void product_tiles(Part& p, const Shape& s, const uint16_t* hbt, int64_t jt, int64_t g) {
  const uint16_t* hi = p.hi.get(0);
  const uint16_t* lo = p.lo.get(0);
  _tile_zero(0);
  if constexpr (G > 1) _tile_zero(1);
  if constexpr (G > 2) _tile_zero(2);
  if constexpr (G > 3) _tile_zero(3);
  for (int64_t kk = 0; kk < s.kb; ++kk) {
    _tile_loadd(4, hi + 32 * kk, 2 * s.nhp);
    _tile_loadd(5, lo + 32 * kk, 2 * s.nhp);
    const uint16_t* bk = hbt + (kk * s.nrt + g) * 512;
    _tile_loadd(6, bk, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(0, 5, 6);
    if constexpr (G > 1) {
      _tile_loadd(6, bk + 512, 64);
      _tile_dpbf16ps(1, 4, 6);
      _tile_dpbf16ps(1, 5, 6);
    }
    if constexpr (G > 2) {
      _tile_loadd(6, bk + 1024, 64);
      _tile_dpbf16ps(2, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
    }
    if constexpr (G > 3) {
      _tile_loadd(6, bk + 1536, 64);
      _tile_dpbf16ps(3, 4, 6);
      _tile_dpbf16ps(3, 5, 6);
    }
  }
  alignas(64) float ct[4][256];
  _tile_stored(0, ct[0], 64);
  if constexpr (G > 1) _tile_stored(1, ct[1], 64);
  if constexpr (G > 2) _tile_stored(2, ct[2], 64);
  if constexpr (G > 3) _tile_stored(3, ct[3], 64);
  float* crow = p.crow.get(0);
  for (int gi = 0; gi < G; ++gi) {
    __m512 x[16];
    for (int m = 0; m < 16; ++m) x[m] = _mm512_load_ps(ct[gi] + 16 * m);
    transpose16(x);
    for (int i = 0; i < 16; ++i) _mm512_store_ps(crow + (16 * (g + gi) + i) * p.nrow + 16 * jt, x[i]);
  }
}

// The probe's B tiles: the part's columns of w (rows of wt) split into two bf16 parts, tile
// (kk, jt) row q holding the pairs (w[32 kk + 2q, 16 jt + i], w[32 kk + 2q + 1, 16 jt + i]), the
// 16 x 16 word transpose of the rows' pairs.
void probe_pack_w(Part& p, const Shape& s) {
  const int64_t tiles = p.nrow / 16;
  uint16_t* pb = p.pb.get(0);
  for (int64_t jt = 0; jt < tiles; ++jt) {
    for (int64_t kk = 0; kk < s.kb; ++kk) {
      __m512 x[2][16];
      for (int i = 0; i < 16; ++i) {
        const float* row = p.wt.get(0) + (16 * jt + i) * s.nhp + 32 * kk;
        __m512 x0 = _mm512_load_ps(row), x1 = _mm512_load_ps(row + 16);
        x[0][i] = _mm512_castsi512_ps(bf16_part(&x0, &x1));
        x[1][i] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(x1, x0));
      }
      for (int part = 0; part < 2; ++part) {
        transpose16(x[part]);
        uint16_t* t = pb + ((part * s.kb + kk) * tiles + jt) * 512;
        for (int q = 0; q < 16; ++q) _mm512_store_ps(reinterpret_cast<float*>(t + 32 * q), x[part][q]);
      }
    }
  }
}

// One row tile (A parts at a, a + plane) times column tiles jt .. jt + G - 1 of the probe's B parts
// (tmm0 .. G-1; A parts in tmm3-4, B parts through tmm6), the pairs of parts of probe_error, into
// the C rows at c (stride ldc floats).
template <int G>
void probe_tiles(const uint16_t* a, int64_t plane, const uint16_t* pb, int64_t bplane, const Shape& s, int64_t tiles,
                 int64_t jt, float* c, int64_t ldc) {
  _tile_zero(0);
  if constexpr (G > 1) _tile_zero(1);
  if constexpr (G > 2) _tile_zero(2);
  for (int64_t kk = 0; kk < s.kb; ++kk) {
    _tile_loadd(3, a + 32 * kk, 2 * s.nhp);
    _tile_loadd(4, a + plane + 32 * kk, 2 * s.nhp);
    const uint16_t* b = pb + (kk * tiles + jt) * 512;
    // C += A2 B1 + A1 B1 + A1 B2 for each column tile
#define PK_PROBE_TILE(C, OFF)                   \
    _tile_loadd(6, b + (OFF), 64);              \
    _tile_dpbf16ps(C, 4, 6);                    \
    _tile_dpbf16ps(C, 3, 6);                    \
    _tile_loadd(6, b + bplane + (OFF), 64);     \
    _tile_dpbf16ps(C, 3, 6);
    PK_PROBE_TILE(0, 0)
    if constexpr (G > 1) {
      PK_PROBE_TILE(1, 512)
    }
    if constexpr (G > 2) {
      PK_PROBE_TILE(2, 1024)
    }
#undef PK_PROBE_TILE
  }
  _tile_stored(0, c, 4 * ldc);
  if constexpr (G > 1) _tile_stored(1, c + 16, 4 * ldc);
  if constexpr (G > 2) _tile_stored(2, c + 32, 4 * ldc);
}

// The part's share of the probe's squared error over n rows (x: the first, nv floats apart):
// sum over the rows and the part's columns of (sigmoid(ph w^T + b) - x)^2, ph (n x nhp) the hidden
// probabilities.  ph w^T by tile products of two-part bf16 splits of both (the pairs 1-1, 2-1, 1-2:
// each product within about 2^-16 of its size, the mean of the squares within 1e-7 or so of an
// fp32 GEMM's); the squares of each 16 rows and three column tiles as soon as their tiles are
// stored (in L1), summed in float over those 48 vectors, then in double.
// NOTE: measured (1024 probe rows, MNIST-sized layer): the whole probe 1.39-1.66 ms an epoch
// against 2.28-2.46 with three-part splits (six pairs of parts) and the pre-activations of all
// rows stored first (1.0-1.5 ms of it this product, 0.4 the squares); the mean of the squares
// within 2e-9 to 7e-8 of float64's, as before.
double probe_error(Part& p, const Shape& s, const float* ph, int64_t n, const float* x, int64_t nv) {
  const int64_t rt_count = (n + 15) / 16, tiles = p.nrow / 16;
  uint16_t* pa = p.pa.get(0);
  const int64_t plane = 16 * rt_count * s.nhp;
  split_rows(ph, s.nhp, 16 * rt_count, n, pa, pa + plane);
  const uint16_t* pb = p.pb.get(0);
  const int64_t bplane = s.kb * tiles * 512;
  const float* bq = p.bq.get(0);
  alignas(64) float c[16 * 48];
  __m512d total = _mm512_setzero_pd();
  configure_tiles();
  for (int64_t rt = 0; rt < rt_count; ++rt) {
    const uint16_t* a = pa + 16 * rt * s.nhp;
    const int64_t rows = std::min<int64_t>(16, n - 16 * rt);
    for (int64_t jt = 0; jt < tiles; jt += 3) {
      const int g = static_cast<int>(std::min<int64_t>(3, tiles - jt));
      switch (g) {
        case 3: probe_tiles<3>(a, plane, pb, bplane, s, tiles, jt, c, 48); break;
        case 2: probe_tiles<2>(a, plane, pb, bplane, s, tiles, jt, c, 48); break;
        default: probe_tiles<1>(a, plane, pb, bplane, s, tiles, jt, c, 48); break;
      }
      __m512 sum = _mm512_setzero_ps();
      for (int64_t i = 0; i < rows; ++i) {
        const float* xr = x + (16 * rt + i) * nv + p.j0;
        for (int64_t u = 0; u < g; ++u) {
          const int64_t jl = 16 * (jt + u);
          const __mmask16 in = lanes(p.ncol - jl);
          const __m512 pr = sigmoid16(_mm512_add_ps(_mm512_load_ps(c + 48 * i + 16 * u), _mm512_load_ps(bq + jl)));
          const __m512 d = _mm512_maskz_sub_ps(in, pr, _mm512_maskz_loadu_ps(in, xr + jl));
          sum = _mm512_fmadd_ps(d, d, sum);
        }
      }
      total = _mm512_add_pd(total, _mm512_cvtps_pd(_mm512_castps512_ps256(sum)));
      total = _mm512_add_pd(total, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sum), 1))));
    }
  }
  _tile_release();
  return _mm512_reduce_add_pd(total);
}

// The part's visible columns of n rows drawn from the hidden sample (rows.hbt, hidx) with the
// part's biases b: each row's 16-column masks of units on into rmk, its bf16 row into ak, its count
// into cntk and, with `dense`, the 0/1 sample into dense[r * nv + j0 ..] (the row lists, where
// needed, from rmk: lists_from_rows).
void visible_draw(Part& p, const Shape& s, int64_t n, const float* b, const PhiloxStream& stream, float* dense,
                  Rows& rows) {
  const int64_t nrt = (n + 15) / 16, ntile = p.nrow / 16;
  // crow (row-major, batch row x column): C^T = (w^T split) h^T tile by tile, transposed back
  const uint16_t* hbt = rows.hbt.get(0);
  configure_tiles();
  for (int64_t jt = 0; jt < ntile; ++jt) {
    pack_rows(p, s, jt);
    for (int64_t g = 0; g < nrt; g += 4) {
      switch (std::min<int64_t>(4, nrt - g)) {
        case 4: product_tiles<4>(p, s, hbt, jt, g); break;
        case 3: product_tiles<3>(p, s, hbt, jt, g); break;
        case 2: product_tiles<2>(p, s, hbt, jt, g); break;
        default: product_tiles<1>(p, s, hbt, jt, g); break;
      }
    }
  }
  _tile_release();
  const float* wt = p.wt.get(0);
  const float* crow = p.crow.get(0);
  const float* bound = p.bound.get(0);
  const int32_t* hidx = rows.hidx.get(0);
  const int32_t* hcnt = rows.hcnt.get(0);
  float* u = p.units.get(0);
  std::fill(p.rmk.get(0), p.rmk.get(0) + 2 * p.kbv * 64 * s.words, uint16_t{0});  // rows past n stay 0
  const __m256i one = _mm256_set1_epi16(static_cast<int16_t>(kBf16One));
  for (int64_t r = 0; r < n; ++r) {
    const uint64_t first = static_cast<uint64_t>(r * s.nv + p.j0);
    const uint64_t block0 = first >> 2;
    rbm_avx512::philox_units(stream, block0, static_cast<int64_t>(((first + static_cast<uint64_t>(p.ncol) + 3) >> 2) - block0), u);
    const float* ur = u + (first & 3);
    float* sample = dense != nullptr ? dense + r * s.nv + p.j0 : nullptr;
    uint16_t* ak = p.ak.get(0) + r * 32 * p.kbv;  // the row as bf16 for the dense sums
    // the draws the tile product settles, chunk by chunk with no dependence between chunks (the
    // sigmoids of several chunks in flight at once), stored at once where it settles the whole
    // chunk; then the chunks with open units (rare): their exact sums and stores
    // NOTE: measured (MNIST-sized epoch, one part's draws per mini-batch, after the Philox
    // uniforms): 27-31 us in this pass and the rare second, 33-36 with every chunk's stores in a
    // second pass (the coarse sigmoid in settled_draws; before it, 31.5 in one pass whose stores
    // waited on a running count, 28.0 in two).
    uint16_t* on_mask = p.on_mask.get(0);
    uint16_t* open_mask = p.open_mask.get(0);
    uint16_t* rm = p.rmk.get(0) + r;
    // the chunk's draws stored at once where the tile product settles all of them (nearly every
    // chunk), the others after the exact sums of their open units
    auto store = [&](int64_t jl, __mmask16 in, __mmask16 on) {
      // (and the dense sample for a chain)
      if (sample != nullptr) _mm512_mask_storeu_ps(sample + jl, in, _mm512_maskz_mov_ps(on, _mm512_set1_ps(1.0f)));
      _mm256_store_si256(reinterpret_cast<__m256i*>(ak + jl), _mm256_maskz_mov_epi16(on, one));
      rm[(jl / 16) * 64 * s.words] = on;
      return __builtin_popcount(on);
    };
    int32_t count = 0;
    bool any_open = false;
    for (int64_t jl = 0; jl < p.ncol; jl += 16) {
      const __mmask16 in = lanes(p.ncol - jl);
      __mmask16 open;
      const __mmask16 on = settled_draws(_mm512_load_ps(crow + r * p.nrow + jl), _mm512_maskz_loadu_ps(in, b + jl),
                                         _mm512_load_ps(bound + jl), _mm512_maskz_loadu_ps(in, ur + jl), in, &open);
      open_mask[jl / 16] = open;
      if (open == 0) {
        count += store(jl, in, on);
      } else {
        on_mask[jl / 16] = on;
        any_open = true;
      }
    }
    for (int64_t jl = 0; any_open && jl < p.ncol; jl += 16) {
      const __mmask16 open = open_mask[jl / 16];
      if (open == 0) continue;
      const __mmask16 in = lanes(p.ncol - jl);
      const __m512 uu = _mm512_maskz_loadu_ps(in, ur + jl);
      const __m512 bb = _mm512_maskz_loadu_ps(in, b + jl);
      // the exact sums (rbm_amx.cpp's exact_chunk) of the open units alone: 0 plus w[k, j] for the
      // hidden units k on, in increasing k, here from row j of wt (the same float additions as
      // the vector lanes of exact_chunk, hence the same bits)
      // NOTE: one unit in a few thousand is open; a 16-lane gather per hidden unit on cost 6x more.
      alignas(64) float exact[16] = {};
      const int32_t* hr = hidx + r * s.nhp;
      for (__mmask16 rest = open; rest != 0; rest &= static_cast<__mmask16>(rest - 1)) {
        const int lane = __builtin_ctz(rest);
        const float* row = wt + (jl + lane) * s.nhp;
        float acc = 0.0f;
        for (int32_t q = 0; q < hcnt[r]; ++q) acc += row[hr[q]];
        exact[lane] = acc;
      }
      const __mmask16 on = (on_mask[jl / 16] & static_cast<__mmask16>(~open)) |
                           _mm512_mask_cmp_ps_mask(open, uu, sigmoid16(_mm512_add_ps(_mm512_load_ps(exact), bb)), _CMP_LT_OQ);
      count += store(jl, in, on);
    }
    p.cntk.get(0)[r] = count;
  }
}

// dw of the part's columns (0 past nh; into grad for the last mini-batch), then the update of that column of w
// (and vw); returns the sum of its |w| (by lanes).  dw's sums: binary data, from the bitmaps: the rows on in both
// the data and the sample add ph0 - phk (rows.d, one load where the column lists take two: a
// fifth fewer loads once the reconstructions resemble the data), the others ph0 or -phk; else
// from the column lists.
template <int NV>
__m512 apply_update(Part& p, const Shape& s, const RbmEpoch& e, const __m512* acc, int64_t jl, int64_t h0,
                    float inv_n, bool last);

template <int NV>
__m512 update_block(Part& p, const Shape& s, const RbmEpoch& e, Rows& rows, int64_t jl, int64_t h0, float inv_n,
                    bool last, const float* dense) {
  __m512 acc[NV];
  if (dense != nullptr) {
    // the dense dw's sums of this column
    for (int i = 0; i < NV; ++i) acc[i] = _mm512_load_ps(dense + h0 + 16 * i);
    return apply_update<NV>(p, s, e, acc, jl, h0, inv_n, last);
  }
  for (int i = 0; i < NV; ++i) acc[i] = _mm512_setzero_ps();
  if (p.binary) {
    const uint64_t* a = p.mask0.get(0) + jl * s.words;
    const uint64_t* b = p.maskk.get(0) + jl * s.words;
    accumulate_rows<NV, false>(acc, s.words, [&](int64_t w) { return a[w] & b[w]; }, rows.d.get(0) + h0, s.nhp);
    accumulate_rows<NV, false>(acc, s.words, [&](int64_t w) { return a[w] & ~b[w]; }, rows.ph0.get(0) + h0, s.nhp);
    accumulate_rows<NV, true>(acc, s.words, [&](int64_t w) { return b[w] & ~a[w]; }, rows.phk.get(0) + h0, s.nhp);
  } else {
    const int32_t* cs0 = p.cstart0.get(0);
    const int32_t* csk = p.cstartk.get(0);
    accumulate<NV, true, false>(acc, p.cidx0.get(0), p.cval0.get(0), cs0[jl], cs0[jl + 1], rows.ph0.get(0) + h0, s.nhp);
    accumulate<NV, false, true>(acc, p.cidxk.get(0), nullptr, csk[jl], csk[jl + 1], rows.phk.get(0) + h0, s.nhp);
  }
  return apply_update<NV>(p, s, e, acc, jl, h0, inv_n, last);
}

// The update of column jl of w (and vw) at hidden units h0 .. h0 + 16 NV - 1 from its dw sums acc
// (into grad for the last mini-batch); returns the sum of its |w| (by lanes).
template <int NV>
__m512 apply_update(Part& p, const Shape& s, const RbmEpoch& e, const __m512* acc, int64_t jl, int64_t h0,
                    float inv_n, bool last) {
  float* w = p.wt.get(0) + jl * s.nhp + h0;
  float* v = e.momentum != 0.0f ? p.vt.get(0) + jl * s.nhp + h0 : nullptr;
  const __m512 scale = _mm512_set1_ps(inv_n), lr = _mm512_set1_ps(e.lr), mom = _mm512_set1_ps(e.momentum);
  const __m512 decay = _mm512_set1_ps(e.weight_decay);
  // NOTE: the sum of |w| in a local (through the caller's pointer it was a store and a reload per
  // vector, a sixth of this function's time)
  __m512 colsum = _mm512_setzero_ps();
  for (int i = 0; i < NV; ++i) {
    __m512 g = _mm512_mul_ps(acc[i], scale);
    if (last) _mm512_store_ps(p.grad.get(0) + jl * s.nhp + h0 + 16 * i, g);
    __m512 x = _mm512_load_ps(w + 16 * i);
    if (e.weight_decay != 0.0f) g = _mm512_sub_ps(g, _mm512_mul_ps(decay, x));
    const __m512 d = _mm512_mul_ps(g, lr);
    if (v != nullptr) {
      const __m512 vel = _mm512_add_ps(_mm512_mul_ps(_mm512_load_ps(v + 16 * i), mom), d);
      _mm512_store_ps(v + 16 * i, vel);
      x = _mm512_add_ps(x, vel);
    } else {
      x = _mm512_add_ps(x, d);
    }
    _mm512_store_ps(w + 16 * i, x);
    colsum = _mm512_add_ps(colsum, _mm512_abs_ps(x));
  }
  return colsum;
}

// One scalar parameter's update (b, c): the same float operations as the vector ones.
inline void update_scalar(float& x, float* vel, float d, const RbmEpoch& e) {
  d *= e.lr;
  if (vel != nullptr) {
    *vel *= e.momentum;
    *vel += d;
    x += *vel;
  } else {
    x += d;
  }
}

// Whole run of one epoch.
class Epoch {
 public:
  explicit Epoch(const RbmEpoch& e) : e_(e) {
    thread_local std::vector<std::unique_ptr<Part>> cache;
    thread_local Rows rows;
    const int64_t nt = (e.nv + 15) / 16;
    nparts_ = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), nt)));
    while (static_cast<int>(cache.size()) < nparts_) cache.push_back(std::make_unique<Part>());
    s_.nv = e.nv;
    s_.nh = e.nh;
    s_.nhp = (e.nh + 31) / 32 * 32;
    s_.kb = s_.nhp / 32;
    s_.nmax = std::min(e.batch, e.rows);
    s_.nrt = (s_.nmax + 15) / 16;
    s_.words = (s_.nmax + 63) / 64;
    s_.ct = s_.nhp / 16;
    s_.kr = (s_.nmax + 31) / 32;
    nbatches_ = (e.rows + e.batch - 1) / e.batch;
    const int64_t hid = s_.nmax * s_.nhp;
    rows.ph0.get(hid);
    rows.phk.get(hid);
    rows.d.get(hid);
    rows.hbt.get(s_.kb * s_.nrt * 512);
    rows.hidx.get(hid);
    rows.hcnt.get(s_.nmax);
    rows.pb.get(2 * 2 * s_.kr * s_.ct * 512);
    rows_ptr_ = &rows;
    if (e.check && e.chain != nullptr) chain_copy_.assign(e.chain, e.chain + s_.nmax * e.nv);
    probe_rows_ = std::min(e.probe, kProbeRows);
    if (e.probe > 0) rows.pph.get(probe_rows_ * s_.nhp);
    for (int q = 0; q < nparts_; ++q) {
      Part& p = *cache[q];
      const int64_t t0 = nt * q / nparts_, t1 = nt * (q + 1) / nparts_;
      p.j0 = 16 * t0;
      p.ncol = std::min(e.nv, 16 * t1) - p.j0;
      p.nrow = 16 * (t1 - t0);
      p.kbv = (p.nrow + 31) / 32;
      allocate(p, s_, e.momentum != 0.0f, e.chain != nullptr);
      parts_.push_back(&p);
      sc_.push_back(e.chain != nullptr ? p.sc.get(0) : nullptr);
      sk_[0].push_back(p.sk[0].get(0));
      sk_[1].push_back(p.sk[1].get(0));
      if (e.probe > 0) {
        p.pidx.get(probe_rows_ * p.ncol);
        p.pval.get(probe_rows_ * p.ncol);
        p.pcnt.get(probe_rows_);
        p.pa.get(2 * 16 * ((probe_rows_ + 15) / 16) * s_.nhp);
        p.pb.get(2 * s_.kb * (p.nrow / 16) * 512);
        const int64_t tiled = 16 * ((probe_rows_ + 15) / 16);
        p.pa0.get(tiled * 32 * p.kbv);
        ps_.push_back(p.psum.get(tiled * s_.nhp));
      }
    }
  }

  // Phases per mini-batch: per Gibbs step, the hidden rows (each part a range of rows) and the
  // visible columns (each part its columns); then the negative phase's hidden rows; then the
  // statistics and the update (columns), with the next mini-batch's start.
  bool run() {
    if (nbatches_ > 0) {
      run_parts(nparts_, [&](int q) {
        load(*parts_[q], s_, e_);
        start(*parts_[q], 0);
      });
      // per mini-batch, 2k + 2 phases: per Gibbs step the hidden rows and the visible columns, the
      // negative phase, the update with the next mini-batch's start
      const int64_t per = 2 * e_.k + 2;
      run_phases(
          nparts_, nbatches_ * per,
          [&](int64_t ph, int q) {
            const int64_t i = ph / per, st = ph % per;
            if (st < 2 * e_.k) {
              if (st % 2 == 0) {
                hidden(*parts_[q], q, i, st / 2);
              } else {
                visible(*parts_[q], i, st / 2);
              }
            } else if (st == 2 * e_.k) {
              negative(*parts_[q], q, i);
            } else {
              finish(*parts_[q], i, q == 0);
              if (i + 1 < nbatches_) start(*parts_[q], i + 1);
            }
          },
          [&](int64_t ph) { return ph % per == 0 && bad_.load(std::memory_order_relaxed); }, window_);
      if (bad_) {
        // nothing was stored but the persistent chain, drawn in place
        if (e_.chain != nullptr) std::copy(chain_copy_.begin(), chain_copy_.end(), e_.chain);
        return false;
      }
    }
    if (e_.probe > 0) {
      if (nbatches_ == 0) run_parts(nparts_, [&](int q) { load(*parts_[q], s_, e_); });
      probe();
    }
    if (nbatches_ > 0) run_parts(nparts_, [&](int q) { store(*parts_[q], s_, e_, q == 0); });
    return true;
  }

 private:
  int64_t rows_of(int64_t i) const { return std::min(e_.batch, e_.rows - i * e_.batch); }
  // K blocks of 32 of the dense dw of n rows: the data's rows (n rounded up to even) then the sample's.
  static int64_t dw_blocks(int64_t n) { return (4 * ((n + 1) / 2) + 31) / 32; }
  uint64_t counter_of(int64_t i) const {
    return e_.counter + static_cast<uint64_t>(i) * (2 * static_cast<uint64_t>(e_.k) + 1);
  }
  // Part q's range of the n rows of a hidden layer (even bounds: pack_pairs takes pairs of rows).
  int64_t first_row(int q, int64_t n) const { return q >= nparts_ ? n : (n * q / nparts_) & ~int64_t{1}; }

  // Whether a part's sums over `units` units on of n rows and `columns` columns (share: the
  // sums' kSumsShare, dw's kDwShare of the data's and the sample's units together) go by the
  // dense tile products: per mini-batch, by the share of units on, the same on every run.
  bool dense(int64_t units, int64_t n, int64_t columns, double share) const {
    if (e_.products == static_cast<int>(RbmEpochProducts::kSparse)) return false;
    if (e_.products == static_cast<int>(RbmEpochProducts::kDense)) return true;
    return static_cast<double>(units) >= share * static_cast<double>(n) * static_cast<double>(columns);
  }

  // dw of the part's columns by the dense tile products, kDwTiles column tiles at a time, each
  // pass's columns updated as soon as their sums are in.
  void dense_update(Part& p, int64_t n, float inv_n, bool last, int64_t next) {
    const int64_t half = (n + 1) / 2, kb2 = dw_blocks(n), astride = 32 * kb2, tiles = p.nrow / 16;
    const int64_t plane = 2 * s_.kr * s_.ct * 512;
    const uint16_t* b = rows_ptr_->pb.get(0);
    uint16_t* a = p.dwa.get(0);
    float* c = p.dwc.get(0);
    const __m512i one = _mm512_set1_epi16(static_cast<int16_t>(kBf16One));
    const __m512i minus_one = _mm512_set1_epi16(static_cast<int16_t>(0xbf80));
    // the next mini-batch's data (next >= 0; not with a chain, whose sums read ak first) read
    // between the tile products, rows spread evenly over them: the rows' loads wait on memory while
    // the tiles compute (the tile unit and the vector units run side by side)
    // NOTE: measured (MNIST-sized epoch, medians of 7 native epochs, 6 rounds alternating the
    // builds): 32.8-33.0 -> 30.9-31.0 ms against the whole scan in start.
    const int64_t calls = (tiles + kDwTiles - 1) / kDwTiles * s_.ct, next_n = next >= 0 ? rows_of(next) : 0;
    int64_t call = 0;
    if (next >= 0) scan_begin(p, next);
    for (int64_t jt0 = 0; jt0 < tiles; jt0 += kDwTiles) {
      const int g = static_cast<int>(std::min<int64_t>(kDwTiles, tiles - jt0));
      // A rows: column j's rows on in the data (1) and in the sample (-1), from the bitmaps
      for (int64_t i = 0; i < 16 * g; ++i) {
        const int64_t jl = 16 * jt0 + i;
        uint16_t* row = a + i * astride;
        for (int64_t kk = 0; kk < kb2; ++kk) {
          __mmask32 m0 = 0, mk = 0;  // (disjoint: the data's bits past n are 0)
          if (jl < p.ncol) {
            m0 = bits32(p.mask0.get(0) + jl * s_.words, s_.words, 32 * kk);
            mk = bits32(p.maskk.get(0) + jl * s_.words, s_.words, 32 * kk - 2 * half);
          }
          _mm512_store_si512(row + 32 * kk, _mm512_or_si512(_mm512_maskz_mov_epi16(m0, one), _mm512_maskz_mov_epi16(mk, minus_one)));
        }
      }
      configure_tiles();
      for (int64_t t = 0; t < s_.ct; ++t) {
        switch (g) {
          case 5: sums_tiles<5>(a, kb2, 0, kb2, b, plane, s_.ct, t, c, s_.nhp); break;
          case 4: sums_tiles<4>(a, kb2, 0, kb2, b, plane, s_.ct, t, c, s_.nhp); break;
          case 3: sums_tiles<3>(a, kb2, 0, kb2, b, plane, s_.ct, t, c, s_.nhp); break;
          case 2: sums_tiles<2>(a, kb2, 0, kb2, b, plane, s_.ct, t, c, s_.nhp); break;
          default: sums_tiles<1>(a, kb2, 0, kb2, b, plane, s_.ct, t, c, s_.nhp); break;
        }
        if (next >= 0) scan_rows(p, ++call * next_n / calls);
      }
      _tile_release();
      for (int64_t jl = 16 * jt0; jl < std::min(p.ncol, 16 * (jt0 + g)); ++jl)
        update_column(p, jl, inv_n, last, c + (jl - 16 * jt0) * s_.nhp);
    }
  }

  // dw of column jl (from `dense`, its dense sums, or else from the bitmaps or column lists) and
  // the update of that column of w, its error bound and (every 16 columns) wb (columns in
  // increasing order).
  void update_column(Part& p, int64_t jl, float inv_n, bool last, const float* dense) {
    __m512 colsum = _mm512_setzero_ps();
    for (int64_t h0 = 0; h0 < s_.nhp; h0 += 256) {
      switch (std::min<int64_t>(16, (s_.nhp - h0) / 16)) {
        case 16: colsum = _mm512_add_ps(colsum, update_block<16>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
        case 14: colsum = _mm512_add_ps(colsum, update_block<14>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
        case 12: colsum = _mm512_add_ps(colsum, update_block<12>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
        case 10: colsum = _mm512_add_ps(colsum, update_block<10>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
        case 8: colsum = _mm512_add_ps(colsum, update_block<8>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
        case 6: colsum = _mm512_add_ps(colsum, update_block<6>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
        case 4: colsum = _mm512_add_ps(colsum, update_block<4>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
        default: colsum = _mm512_add_ps(colsum, update_block<2>(p, s_, e_, *rows_ptr_, jl, h0, inv_n, last, dense)); break;
      }
    }
    p.bound.get(0)[jl] = column_bound(hsum(colsum), s_.nh);
    repack_rows(p, s_, jl);
  }

  // The scan of mini-batch i's data over the part's columns begins: its rows, read by scan_rows (as
  // far as the update before has taken it, the rest in start), as bf16 into ak (a0), their masks
  // of units on into rm0 and, where needed, their row lists.
  void scan_begin(Part& p, int64_t i) {
    Part::Scan& sc = p.scan;
    sc = Part::Scan{};
    sc.i = i;
    sc.n = rows_of(i);
    // the row lists only where the last mini-batch's sums went over the units on (or its data were
    // not binary); otherwise the counts, the binary and range checks from the rows' masks, and the
    // lists in a second pass if this mini-batch needs them after all
    sc.lists = !p.s0_dense;
    std::fill(p.rm0.get(0), p.rm0.get(0) + 2 * p.kbv * 64 * s_.words, uint16_t{0});
  }

  // The scan's rows up to `end` (at most the mini-batch's).
  void scan_rows(Part& p, int64_t end) {
    Part::Scan& sc = p.scan;
    const int64_t i = sc.i, n = sc.n;
    int32_t* idx = p.idx0.get(0);
    float* val = p.val0.get(0);
    int32_t* cnt = p.cnt0.get(0);
    uint16_t* a0 = p.ak.get(0);
    uint16_t* rm = p.rm0.get(0);
    const int64_t rows = 64 * s_.words;
    const bool lists = sc.lists;
    constexpr int64_t kAhead = 4;  // rows prefetched ahead of the scan
    for (int64_t r = sc.r; r < std::min(end, n); sc.r = ++r) {
      if (r + kAhead < n) {
        const int64_t ahead = e_.order != nullptr ? e_.order[i * e_.batch + r + kAhead] : i * e_.batch + r + kAhead;
        const char* a = reinterpret_cast<const char*>(e_.x + ahead * s_.nv + p.j0);
        for (int64_t off = 0; off < 4 * p.ncol; off += 64) _mm_prefetch(a + off, _MM_HINT_T0);
      }
      const int64_t row = e_.order != nullptr ? e_.order[i * e_.batch + r] : i * e_.batch + r;
      const float* xr = e_.x + row * s_.nv + p.j0;
      if (lists)
        cnt[r] = rbm_avx512::find_nonzeros_row(xr, p.ncol, idx + r * p.ncol, val + r * p.ncol, e_.check ? &sc.outside : nullptr);
      // the row as bf16 for the dense sums and its masks of units on (for the bitmaps of binary data)
      if (lists) {
        scan_row<false>(xr, p.ncol, p.kbv, a0 + r * 32 * p.kbv, rm + r, rows, nullptr);
      } else {
        const int64_t before = sc.counts.on;
        scan_row<true>(xr, p.ncol, p.kbv, a0 + r * 32 * p.kbv, rm + r, rows, &sc.counts);
        cnt[r] = static_cast<int32_t>(sc.counts.on - before);
      }
      sc.nnz += cnt[r];
    }
  }

  // Mini-batch i's data (and chain) over the part's columns: row and column lists, partial sums.
  void start(Part& p, int64_t i) {
    const int64_t n = rows_of(i);
    if (e_.chain != nullptr) chain_sums(p, i, n);
    if (p.scan.i != i) scan_begin(p, i);
    scan_rows(p, n);
    const Part::Scan& sc = p.scan;
    int32_t* idx = p.idx0.get(0);
    float* val = p.val0.get(0);
    int32_t* cnt = p.cnt0.get(0);
    uint16_t* a0 = p.ak.get(0);
    uint16_t* rm = p.rm0.get(0);
    const bool lists = sc.lists;
    const int64_t nnz = sc.nnz;
    const ScanCounts& counts = sc.counts;
    bool outside = sc.outside;
    if (!lists && e_.check && counts.bad != 0) outside = true;
    if (outside) bad_ = true;
    p.nnz0 = nnz;
    p.binary = lists ? all_ones(val, cnt, p.ncol, n) : counts.other == 0;
    p.s0_dense = p.binary && dense(nnz, n, p.ncol, kSumsShare);
    if (!p.s0_dense && !lists) {
      for (int64_t r = 0; r < n; ++r) {
        const int64_t row = e_.order != nullptr ? e_.order[i * e_.batch + r] : i * e_.batch + r;
        rbm_avx512::find_nonzeros_row(e_.x + row * s_.nv + p.j0, p.ncol, idx + r * p.ncol, val + r * p.ncol, nullptr);
      }
    }
    if (p.s0_dense) {
      dense_sums(p, s_, a0, n, p.sk[0].get(0));
    } else {
      row_sums<true>(idx, val, cnt, p.ncol, n, p.wt.get(0), s_.nhp, p.sk[0].get(0));
    }
    if (p.binary) {
      masks_from_rows(rm, p.ncol, s_.words, p.mask0.get(0));
    } else {
      SparseCols<float> cols{p.cstart0.get(0), p.cidx0.get(0), p.cval0.get(0), false};
      to_columns(SparseRows<float>{idx, val, cnt, p.ncol}, n, cols, p.next.get(0));
    }
  }

  // The partial hidden sums of the persistent chain's first n rows over the part's columns (sc) at
  // the start of mini-batch i, as the data's: binary and dense enough, by the tile products, else
  // over the units on (the same float operations as rbm_cd).  The tile products' A rows: after the
  // first mini-batch, the chain is the last Gibbs step's sample, its rows still in ak as bf16 (the
  // negative phase and the update leave ak alone; the data's rows take it after these sums); in the
  // first, the caller's chain, read into ak.
  // NOTE: measured (MNIST-sized epoch, persistent, per part and mini-batch): the mini-batch's start
  // took 138 us with these sums always over the units on (the chain, a sample of the
  // reconstructions, had 16% of its units on at the epoch's end, the data 15%), 84 with the tile
  // products on the chain read again (15 us of it the read), 66 as here, against 42 without a
  // chain; the epoch 42 -> 32.5 ms.
  void chain_sums(Part& p, int64_t i, int64_t n) {
    uint16_t* a = p.ak.get(0);
    ScanCounts counts;
    if (i > 0) {
      const int32_t* cnt = p.cntk.get(0);  // (the sample: binary)
      for (int64_t r = 0; r < n; ++r) counts.on += cnt[r];
    } else {
      for (int64_t r = 0; r < n; ++r)
        scan_row<true>(e_.chain + r * s_.nv + p.j0, p.ncol, p.kbv, a + r * 32 * p.kbv, nullptr, 0, &counts);
    }
    if (counts.other == 0 && dense(counts.on, n, p.ncol, kSumsShare)) {
      dense_sums(p, s_, a, n, p.sc.get(0));
      return;
    }
    int32_t* cidx = p.idxc.get(0);
    float* cval = p.valc.get(0);
    int32_t* ccnt = p.cntc.get(0);
    for (int64_t r = 0; r < n; ++r)
      ccnt[r] = rbm_avx512::find_nonzeros_row(e_.chain + r * s_.nv + p.j0, p.ncol, cidx + r * p.ncol, cval + r * p.ncol);
    row_sums<true>(cidx, cval, ccnt, p.ncol, n, p.wt.get(0), s_.nhp, p.sc.get(0));
  }

  // Gibbs step st of mini-batch i, part q's rows of the hidden draw (from the data, the chain or
  // the last sample); at step 0 also the positive phase's probabilities.
  void hidden(Part& p, int q, int64_t i, int64_t st) {
    const int64_t n = rows_of(i), r0 = first_row(q, n), r1 = first_row(q + 1, n);
    const PhiloxStream stream(e_.seed, counter_of(i) + 2 * static_cast<uint64_t>(st));
    Rows& rows = *rows_ptr_;
    if (st == 0) {
      // without a chain, the positive phase's probabilities also drive the first draw
      // (the data's partial sums: sk[0] until this phase has read them)
      hidden_layer(p, s_, sk_[0].data(), nparts_, r0, r1, n, rows.ph0.get(0), e_.chain == nullptr ? &stream : nullptr, rows);
      if (e_.chain != nullptr) hidden_layer(p, s_, sc_.data(), nparts_, r0, r1, n, rows.phk.get(0), &stream, rows);
    } else {
      hidden_layer(p, s_, sk_[(st - 1) & 1].data(), nparts_, r0, r1, n, rows.phk.get(0), &stream, rows);
    }
  }

  // Gibbs step st of mini-batch i, the part's visible columns and their partial sums.
  void visible(Part& p, int64_t i, int64_t st) {
    const int64_t n = rows_of(i);
    const PhiloxStream stream(e_.seed, counter_of(i) + 2 * static_cast<uint64_t>(st) + 1);
    const bool last = st == e_.k - 1;
    visible_draw(p, s_, n, p.bq.get(0), stream, last && e_.chain != nullptr ? e_.chain : nullptr, *rows_ptr_);
    int64_t nnz = 0;
    for (int64_t r = 0; r < n; ++r) nnz += p.cntk.get(0)[r];
    p.nnzk = nnz;
    // the row lists from the rows' masks, only where the sums go over the units on or the column
    // lists of non-binary data need them
    const bool dense_sk = dense(nnz, n, p.ncol, kSumsShare);
    if (!dense_sk || (last && !p.binary)) lists_from_rows(p.rmk.get(0), s_.words, n, p.ncol, p.idxk.get(0));
    if (dense_sk) {
      dense_sums(p, s_, p.ak.get(0), n, p.sk[st & 1].get(0));
    } else {
      row_sums<false>(p.idxk.get(0), nullptr, p.cntk.get(0), p.ncol, n, p.wt.get(0), s_.nhp, p.sk[st & 1].get(0));
    }
    if (last && p.binary) {
      masks_from_rows(p.rmk.get(0), p.ncol, s_.words, p.maskk.get(0));
    } else if (last) {
      SparseCols<float> cols{p.cstartk.get(0), p.cidxk.get(0), nullptr, false};  // the sample's values are 1
      to_columns(SparseRows<float>{p.idxk.get(0), nullptr, p.cntk.get(0), p.ncol}, n, cols, p.next.get(0));
    }
  }

  // *e.error: the reconstruction error of rows 0 .. probe - 1 of x, kProbeRows rows at a time: the
  // data's partial sums (parts), the hidden probabilities (rows), the visible probabilities by the
  // product ph w^T over each part's columns and their squared differences from the data (parts,
  // probe_error).
  void probe() {
    Rows& rows = *rows_ptr_;
    for (int q = 0; q < nparts_; ++q) parts_[q]->squares = 0.0;
    run_parts(nparts_, [&](int q) { probe_pack_w(*parts_[q], s_); });
    for (int64_t r0 = 0; r0 < e_.probe; r0 += probe_rows_) {
      const int64_t n = std::min(probe_rows_, e_.probe - r0);
      run_parts(nparts_, [&](int q) {
        Part& p = *parts_[q];
        int32_t* idx = p.pidx.get(0);
        float* val = p.pval.get(0);
        int32_t* cnt = p.pcnt.get(0);
        // the hidden sums as the mini-batches' (binary data dense enough: the tile products)
        // (the units on counted and the binary check from masks: the row lists only if the sums go
        // over the units on)
        uint16_t* a = p.pa0.get(0);
        ScanCounts counts;
        for (int64_t r = 0; r < 16 * ((n + 15) / 16); ++r)
          scan_row<true>(r < n ? e_.x + (r0 + r) * s_.nv + p.j0 : nullptr, p.ncol, p.kbv, a + r * 32 * p.kbv, nullptr, 0,
                         &counts);
        if (counts.other == 0 && dense(counts.on, n, p.ncol, kSumsShare)) {
          dense_sums(p, s_, a, n, p.psum.get(0));
        } else {
          for (int64_t r = 0; r < n; ++r)
            cnt[r] = rbm_avx512::find_nonzeros_row(e_.x + (r0 + r) * s_.nv + p.j0, p.ncol, idx + r * p.ncol, val + r * p.ncol);
          row_sums<true>(idx, val, cnt, p.ncol, n, p.wt.get(0), s_.nhp, p.psum.get(0));
        }
      });
      run_parts(nparts_, [&](int q) {
        hidden_layer(*parts_[q], s_, ps_.data(), nparts_, first_row(q, n), first_row(q + 1, n), n, rows.pph.get(0),
                     nullptr, rows);
      });
      run_parts(nparts_, [&](int q) {
        Part& p = *parts_[q];
        p.squares += probe_error(p, s_, rows.pph.get(0), n, e_.x + r0 * s_.nv, s_.nv);
      });
    }
    double total = 0.0;
    for (int q = 0; q < nparts_; ++q) total += parts_[q]->squares;
    *e_.error = total / (static_cast<double>(e_.probe) * static_cast<double>(s_.nv));
  }

  // Part q's rows of the negative phase's probabilities, and their share of sum(ph0 - phk).
  void negative(Part& p, int q, int64_t i) {
    const int64_t n = rows_of(i), r0 = first_row(q, n), r1 = first_row(q + 1, n);
    Rows& rows = *rows_ptr_;
    const float* ph0 = rows.ph0.get(0);
    float* phk = rows.phk.get(0);
    hidden_layer(p, s_, sk_[(e_.k - 1) & 1].data(), nparts_, r0, r1, n, phk, nullptr, rows);
    // the dense dw (binary data): each part's choice; the bitmaps' sparse dw reads d, the dense one
    // the B tiles below
    bool any = false, need_d = false;
    for (Part* o : parts_) {
      const bool dd = o->binary && dense(o->nnz0 + o->nnzk, n, o->ncol, kDwShare);
      if (o == &p) p.dense_dw = dd;
      any = any || dd;
      need_d = need_d || (o->binary && !dd);
    }
    // d = ph0 - phk (where a part needs it) and, in double, its column sums over these rows (row by
    // row), in one pass
    float* d = rows.d.get(0);
    double* dsum = p.dsum.get(0);
    std::fill(dsum, dsum + s_.nhp, 0.0);
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t h = 0; h < s_.nhp; h += 16) {
        const __m512 a = _mm512_load_ps(ph0 + r * s_.nhp + h), b = _mm512_load_ps(phk + r * s_.nhp + h);
        if (need_d) _mm512_store_ps(d + r * s_.nhp + h, _mm512_sub_ps(a, b));
        const __m512d lo = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)), _mm512_cvtps_pd(_mm512_castps512_ps256(b)));
        const __m512d hi = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))),
                                         _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(b), 1))));
        _mm512_store_pd(dsum + h, _mm512_add_pd(_mm512_load_pd(dsum + h), lo));
        _mm512_store_pd(dsum + h + 8, _mm512_add_pd(_mm512_load_pd(dsum + h + 8), hi));
      }
    }
    // if any part takes the dense dw, the B tiles of these rows (and, for the last part, the zero
    // rows up to the K blocks' end)
    if (any) {
      // the data's pairs of rows r0 .. r1 - 1 as pairs r0 / 2 .. of K, the sample's from pair
      // `half` on; the last part also the data's odd row's pair (its second row 0) and the zero
      // pairs up to the K blocks' end
      const int64_t plane = 2 * s_.kr * s_.ct * 512, half = (n + 1) / 2;
      uint16_t* pb = rows.pb.get(0);
      const bool end = q == nparts_ - 1;
      auto pack = [&](const float* m, int64_t pr0, int64_t pr1, int64_t shift) {
        for (int64_t pr = pr0; pr < pr1;) {
          const int64_t kk = (pr + shift) / 16, next = std::min(pr1, 16 * (kk + 1) - shift);  // this K block's pairs
          pack_pairs(m, s_.nhp, n, pr, next, s_.ct, kk, pb, plane, shift);
          pr = next;
        }
      };
      pack(ph0, r0 / 2, end ? half : r1 / 2, 0);
      pack(phk, r0 / 2, end ? 16 * dw_blocks(n) - half : r1 / 2, half);
    }
  }

  // The statistics and the update of mini-batch i over the part's columns (and its copy of c).
  void finish(Part& p, int64_t i, bool first) {
    const int64_t n = rows_of(i);
    const bool last = i + 1 == nbatches_ && e_.gw != nullptr;
    const float inv_n = 1.0f / static_cast<float>(n);
    // dw and the update of w, column by column
    if (p.dense_dw) {
      dense_update(p, n, inv_n, last, i + 1 < nbatches_ && e_.chain == nullptr ? i + 1 : -1);
    } else {
      for (int64_t jl = 0; jl < p.ncol; ++jl) update_column(p, jl, inv_n, last, nullptr);
    }
    if (last) transpose_out(p.grad.get(0), s_, p, e_.gw);
    // db and b of the part's columns
    const int32_t* cs0 = p.cstart0.get(0);
    const int32_t* csk = p.cstartk.get(0);
    const float* cval0 = p.cval0.get(0);
    for (int64_t jl = 0; jl < p.ncol; ++jl) {
      double sum = 0.0;
      if (p.binary) {
        for (int64_t w = 0; w < s_.words; ++w)
          sum += static_cast<double>(__builtin_popcountll(p.mask0.get(0)[jl * s_.words + w])) -
                 static_cast<double>(__builtin_popcountll(p.maskk.get(0)[jl * s_.words + w]));
      } else {
        for (int32_t q = cs0[jl]; q < cs0[jl + 1]; ++q) sum += static_cast<double>(cval0[q]);
        for (int32_t q = csk[jl]; q < csk[jl + 1]; ++q) sum -= 1.0;
      }
      const float db = static_cast<float>(sum / static_cast<double>(n));
      if (last) e_.gb[p.j0 + jl] = db;
      update_scalar(p.bq.get(0)[jl], e_.momentum != 0.0f ? p.vbq.get(0) + jl : nullptr, db, e_);
    }
    // dc (the parts' shares added in part order) and c: every part updates its own copy the same way
    float* c = p.c.get(0);
    float* vc = p.vc.get(0);
    for (int64_t h = 0; h < s_.nh; ++h) {
      double sum = parts_[0]->dsum.get(0)[h];
      for (int q = 1; q < nparts_; ++q) sum += parts_[q]->dsum.get(0)[h];
      const float dc = static_cast<float>(sum / static_cast<double>(n));
      if (last && first) e_.gc[h] = dc;
      update_scalar(c[h], e_.momentum != 0.0f ? vc + h : nullptr, dc, e_);
    }
  }

  const RbmEpoch& e_;
  std::atomic<bool> bad_{false};
  oversubscription::Window window_;  // the oversubscription rule over this epoch's short regions
  std::vector<float> chain_copy_;
  Shape s_{};
  int nparts_ = 1;
  int64_t nbatches_ = 0;
  std::vector<Part*> parts_;
  Rows* rows_ptr_ = nullptr;
  std::vector<const float*> sc_, sk_[2], ps_;
  int64_t probe_rows_ = 0;
};

}  // namespace

bool fit_epoch(const RbmEpoch& e) {
  Epoch epoch(e);
  return epoch.run();
}

}  // namespace pk::cpu::rbm_amx
