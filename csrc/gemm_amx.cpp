// Float32 GEMM on AMX-BF16 tiles with float32 accuracy (entered from gemm.cpp only after
// gemm_amx_available(); compiled with AMX, AVX512-BF16 and AVX-512 enabled).
//
// Every element x of op(A) and op(B) is split into three bf16 parts, x = h + m + l:
// h = bf16(x), m = bf16(x - h), l = bf16(x - h - m), each rounded to nearest even. A float32 has 24
// significant bits and each part takes 8 of them, so the split is exact (the differences are
// exact in float32, by Sterbenz's lemma). The product a b is then the sum of the nine part
// products; the six kept here are those of order 2^-16 |a b| or more (hh, hm, mh, hl, lh, mm):
// the three dropped ones (ml, lm, ll) come to at most 2^-23 |a b|, below one float32 rounding of
// the product, and every part product is exact in float32. The tiles accumulate in float32, one
// rounding per pair of products, so the result is as accurate as a float32 FMA GEMM's (tests:
// tests/test_gemm_amx.py, error against float64 next to the FMA kernel's).
// Why: a TDPBF16PS does 16 x 16 x 32 multiply-adds in 16 cycles, 512 a cycle against the 32 of two
// AVX-512 FMA ports, so six of them still leave a 2.7x margin for the splits and tile loads.
// The range: the tiles treat subnormal inputs as zero and flush subnormal results. Inputs whose
// nonzero magnitudes all lie in [2^-50, 2^50] keep every part product that matters (>= 2^-16 of a
// product of magnitude >= 2^-100) far above the subnormals and every sum far below overflow; any
// other input (subnormals, tiny or huge values, infinities, NaN) makes gemm_amx() return false
// and the caller runs the FMA kernel, so special values follow IEEE as there.
//
// Layout: op(A) is packed into 16-row tiles, op(B) into 16-column tiles, both padded with zeros to
// whole tiles of 32 in K. Tile (t, kk) of part p lies at ((t * KB + kk) * 3 + p) * 512 uint16:
// A tiles as 16 rows of 32 k (row-major), B tiles as 16 k-pairs of 16 columns x 2 k (the pairs
// that TDPBF16PS multiplies). The micro-kernel keeps a 32 x 32 block of C in four tiles over the
// whole of K (a single rounding chain per element, no partial sums written back) and writes
// alpha * block + beta * C through a small buffer at the end.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "common/aligned_buffer.h"
#include "common/amx_tiles.h"
#include "common/cpu_features.h"
#include "common/exp_avx512.h"
#include "common/parallel.h"
#include "gemm_isa.h"

namespace pk::cpu {
namespace {

constexpr int64_t kTile = 512;  // uint16 per tile: 16 rows of 64 bytes
constexpr int kParts = 3;
constexpr int64_t kMaxWorkspace = int64_t{128} << 20;  // uint16 of packed operands (256 MB)
constexpr int64_t kKeepWorkspace = int64_t{16} << 20;   // kept between calls (32 MB)
// Bytes of packed B that one chunk of column blocks may take (it stays in the 2 MB L2 with the A
// panel passing through). NOTE: measured at 1024^3: chunks of 512 KB to 1.5 MB within the noise,
// 512 KB 10% slower.
constexpr int64_t kChunkBytes = int64_t{1} << 20;

// Magnitude bits of 2^50 and of 2^-50 minus one: a float is in range when it is 0 or its magnitude lies
// in [2^-50, 2^50], i.e. when its magnitude bits (unsigned, ordered as the magnitudes, NaN and the
// infinities above every finite value) are at most kMaxBits and, minus one (0 wraps around to the
// top), at least kMinBits.
constexpr uint32_t kMaxBits = (127u + 50u) << 23, kMinBits = ((127u - 50u) << 23) - 1u;

// Running extremes of the magnitude bits of the floats seen (see kMaxBits).
struct RangeCheck {
  __m512i hi = _mm512_setzero_si512(), lo = _mm512_set1_epi32(-1);
  void add(__m512 x) {
    const __m512i m = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff));
    hi = _mm512_max_epu32(hi, m);
    lo = _mm512_min_epu32(lo, _mm512_sub_epi32(m, _mm512_set1_epi32(1)));
  }
  bool ok() const {
    return _mm512_reduce_max_epu32(hi) <= kMaxBits && _mm512_reduce_min_epu32(lo) >= kMinBits;
  }
};

// The three bf16 parts of 32 floats: parts[p] holds part p of x0 in its 16 low words, of x1 in its 16
// high words.
inline void split_pair(__m512 x0, __m512 x1, RangeCheck& range, __m512i parts[kParts]) {
  range.add(x0);
  range.add(x1);
  for (int p = 0; p + 1 < kParts; ++p) parts[p] = bf16_part(&x0, &x1);
  parts[kParts - 1] = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
}

// Rows 0 .. nr - 1 (the rest zero) of 32 floats (row r at src + r * ld, the lanes of m0 and m1 of its
// two halves, the rest zero) into the three parts of one A tile (dst: part p at dst + p * kTile).
void split_a_tile(const float* src, int64_t ld, int64_t nr, __mmask16 m0, __mmask16 m1, uint16_t* dst,
                  RangeCheck& range) {
  for (int64_t r = 0; r < 16; ++r) {
    __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
    if (r < nr) {
      x0 = _mm512_maskz_loadu_ps(m0, src + r * ld);
      x1 = _mm512_maskz_loadu_ps(m1, src + r * ld + 16);
    }
    __m512i parts[kParts];
    split_pair(x0, x1, range, parts);
    for (int p = 0; p < kParts; ++p) _mm512_store_si512(dst + p * kTile + r * 32, parts[p]);
  }
}

// Rows 0 .. nk - 1 (the rest zero) of 16 floats (k row kk at src + kk * ld, the lanes of m, the rest
// zero) into the three parts of one B tile: k-pair q's row holds (k 2q, k 2q + 1) of each column.
void split_b_tile(const float* src, int64_t ld, int64_t nk, __mmask16 m, uint16_t* dst, RangeCheck& range) {
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                              22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int64_t q = 0; q < 16; ++q) {
    const __m512 x0 = 2 * q < nk ? _mm512_maskz_loadu_ps(m, src + 2 * q * ld) : _mm512_setzero_ps();
    const __m512 x1 = 2 * q + 1 < nk ? _mm512_maskz_loadu_ps(m, src + (2 * q + 1) * ld) : _mm512_setzero_ps();
    __m512i parts[kParts];
    split_pair(x0, x1, range, parts);
    for (int p = 0; p < kParts; ++p)
      _mm512_store_si512(dst + p * kTile + q * 32, _mm512_permutexvar_epi16(interleave, parts[p]));
  }
}

// buf (512 floats) = 0, then buf[o * bo + i * bi] = x[o * so + i * si] for o < no, i < ni: a tile of a
// transposed operand, read along its rows (the inner index), for split_a_tile / split_b_tile.
void gather_tile(const float* x, int64_t so, int64_t si, int64_t no, int64_t ni, int64_t bo, int64_t bi, float* buf) {
  std::fill(buf, buf + 512, 0.0f);
  for (int64_t o = 0; o < no; ++o)
    for (int64_t i = 0; i < ni; ++i) buf[o * bo + i * bi] = x[o * so + i * si];
}

// One A tile (rows r0.., k from k0) of op(A), A(i, p) = x[i * si + p * sp], into dst.
void pack_a_tile(const float* x, int64_t si, int64_t sp, int64_t rows, int64_t k, int64_t r0, int64_t k0,
                 uint16_t* dst, RangeCheck& range) {
  const int64_t nr = std::min<int64_t>(16, rows - r0), nk = std::min<int64_t>(32, k - k0);
  if (sp == 1) {
    split_a_tile(x + r0 * si + k0, si, nr, lanes(nk), lanes(nk - 16), dst, range);
    return;
  }
  alignas(64) float buf[512];
  gather_tile(x + k0 * sp + r0 * si, sp, si, nk, nr, 1, 32, buf);  // a transposed A: rows of k
  split_a_tile(buf, 32, 16, 0xffff, 0xffff, dst, range);
}

// One B tile (k from k0, columns c0..) of op(B), B(p, j) = b[p * sp + j * sj], into dst.
void pack_b_tile(const float* b, int64_t sp, int64_t sj, int64_t k, int64_t cols, int64_t k0, int64_t c0,
                 uint16_t* dst, RangeCheck& range) {
  const int64_t nk = std::min<int64_t>(32, k - k0), nc = std::min<int64_t>(16, cols - c0);
  if (sj == 1) {
    split_b_tile(b + k0 * sp + c0, sp, nk, lanes(nc), dst, range);
    return;
  }
  alignas(64) float buf[512];
  gather_tile(b + c0 * sj + k0 * sp, sj, sp, nc, nk, 1, 16, buf);  // a transposed B: columns of k
  split_b_tile(buf, 16, 32, 0xffff, dst, range);
}

// tmm4, tmm5: two row tiles (a, a + next); tmm6, tmm7: two column tiles; tmm0 .. 3 (C, rows x
// columns) += their products.
inline void load_rows(const uint16_t* a, int64_t next) {
  _tile_loadd(4, a, 64);
  _tile_loadd(5, a + next, 64);
}
inline void load_cols(const uint16_t* b, int64_t next) {
  _tile_loadd(6, b, 64);
  _tile_loadd(7, b + next, 64);
}
inline void multiply_2x2() {
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

// blk (a 32 x 32 block of float32, row stride 32) = the product of two packed row tiles (pa, and
// a_next further) and two column tiles (pb, b_next further) over kb K steps.
// Why K is not blocked: with the block's partial sums kept in a buffer in L1 and K in steps of 2,
// 4 or 8 tiles (so that the A steps stay in L1), 1024^3 took 4.3-5.1 ms against 3.8-4.3.
void block_product(const uint16_t* pa, int64_t a_next, const uint16_t* pb, int64_t b_next, int64_t kb, float* blk) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t kk = 0; kk < kb; ++kk) {
    const uint16_t* a = pa + kk * kParts * kTile;
    const uint16_t* b = pb + kk * kParts * kTile;
    // The next K step's tiles into L1, an eighth of each of its four 48-line streams (the row and
    // column tiles' three parts) after each group of products.
    // NOTE: measured at 1024^3: 4.0 ms against 4.3 without; two steps ahead 4.7 ms.
    const char* na = reinterpret_cast<const char*>(a + kParts * kTile);
    const char* nb = reinterpret_cast<const char*>(b + kParts * kTile);
    const bool more = kk + 1 < kb;
    int line = 0;
    auto PF = [&] {
      if (!more) return;
      for (int i = 0; i < 8; ++i, ++line) {
        _mm_prefetch(na + line * 64, _MM_HINT_T0);
        _mm_prefetch(na + a_next * 2 + line * 64, _MM_HINT_T0);
        _mm_prefetch(nb + line * 64, _MM_HINT_T0);
        _mm_prefetch(nb + b_next * 2 + line * 64, _MM_HINT_T0);
      }
    };
    // the six part products in an order that reuses loaded tiles: 16 tile loads for 24 products
    load_rows(a, a_next);  // h
    load_cols(b, b_next);  // h
    multiply_2x2();
    PF();
    load_cols(b + kTile, b_next);  // hm
    multiply_2x2();
    PF();
    load_cols(b + 2 * kTile, b_next);  // hl
    multiply_2x2();
    PF();
    load_rows(a + kTile, a_next);  // m
    load_cols(b + kTile, b_next);  // mm
    multiply_2x2();
    PF();
    load_cols(b, b_next);  // mh
    multiply_2x2();
    PF();
    load_rows(a + 2 * kTile, a_next);  // lh
    multiply_2x2();
    PF();
  }
  _tile_stored(0, blk, 128);
  _tile_stored(1, blk + 16, 128);
  _tile_stored(2, blk + 16 * 32, 128);
  _tile_stored(3, blk + 16 * 32 + 16, 128);
}

// C[i0 .. i0 + 32, j0 .. j0 + 32) (clipped to m x n) = alpha * blk + beta * C (C not read when beta == 0).
void write_block(const GemmArgs<float>& g, const float* blk, int64_t i0, int64_t j0) {
  const int64_t rows = std::min<int64_t>(32, g.m - i0), cols = std::min<int64_t>(32, g.n - j0);
  const __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16);
  const __m512 va = _mm512_set1_ps(g.alpha), vb = _mm512_set1_ps(g.beta);
  for (int64_t i = 0; i < rows; ++i) {
    float* c = g.c + (i0 + i) * g.ldc + j0;
    __m512 r0 = _mm512_mul_ps(va, _mm512_load_ps(blk + i * 32));
    __m512 r1 = _mm512_mul_ps(va, _mm512_load_ps(blk + i * 32 + 16));
    if (g.beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
  }
}

}  // namespace

bool gemm_amx_available() {
#ifdef PK_NO_AMX
  return false;
#else
  return amx_bf16_available();
#endif
}

bool gemm_amx(const GemmArgs<float>& g, int threads) {
  const int64_t mt = (g.m + 15) / 16, nt = (g.n + 15) / 16, kb = (g.k + 31) / 32;
  const int64_t mt2 = (mt + 1) / 2 * 2, nt2 = (nt + 1) / 2 * 2;  // whole 32-row / 32-column blocks
  const int64_t tile_step = kParts * kTile;                     // one K step of one packed tile
  if ((mt2 + nt2) * kb * tile_step > kMaxWorkspace) return false;
  static thread_local AlignedBuffer<uint16_t> workspace;
  uint16_t* pa = workspace.get((mt2 + nt2) * kb * tile_step);
  uint16_t* pb = pa + mt2 * kb * tile_step;
  const int64_t a_si = g.trans_a ? 1 : g.lda, a_sp = g.trans_a ? g.lda : 1;
  const int64_t b_sp = g.trans_b ? 1 : g.ldb, b_sj = g.trans_b ? g.ldb : 1;
  const int parts = std::max(1, threads);
  const bool may_serialise = static_cast<double>(g.m) * static_cast<double>(g.n) * static_cast<double>(g.k) < 0x1p28 * parts;
  std::atomic<bool> bad{false};
  // pack: row tiles and column tiles (the padding tiles too, as zeros) spread over the threads, in the
  // order that reads each operand's rows from start to end (the hardware prefetchers follow runs
  // along a row, not columns of lines 4 KB apart)
  run_parts(parts, [&](int t) {
    const int64_t tiles = (mt2 + nt2) * kb;
    const int64_t t0 = tiles * t / parts, t1 = tiles * (t + 1) / parts;
    RangeCheck range;
    for (int64_t x = t0; x < t1; ++x) {
      if (x < mt2 * kb) {
        const int64_t tile = g.trans_a ? x % mt2 : x / kb, kk = g.trans_a ? x / mt2 : x % kb;
        pack_a_tile(g.a, a_si, a_sp, g.m, g.k, tile * 16, kk * 32, pa + (tile * kb + kk) * tile_step, range);
      } else {
        const int64_t y = x - mt2 * kb;
        const int64_t c = g.trans_b ? y / kb : y % nt2, kk = g.trans_b ? y % kb : y / nt2;
        pack_b_tile(g.b, b_sp, b_sj, g.k, g.n, kk * 32, c * 16, pb + (c * kb + kk) * tile_step, range);
      }
    }
    if (!range.ok()) bad.store(true, std::memory_order_relaxed);
  }, may_serialise);
  if (bad.load()) {
    workspace.shrink(kKeepWorkspace);
    return false;
  }
  // compute: 32 x 32 blocks of C. Column blocks go in chunks whose panel of B (about 1 MB) stays in
  // L2 while the row blocks pass over it; the threads take equal runs of (chunk, row block) items.
  const int64_t mb = mt2 / 2, nb = nt2 / 2;
  const int64_t chunk = std::clamp<int64_t>(kChunkBytes / (2 * kb * tile_step * 2), 1, nb);
  const int64_t chunks = (nb + chunk - 1) / chunk, items = chunks * mb;
  run_parts(parts, [&](int t) {
    configure_tiles();
    alignas(64) float blk[32 * 32];
    const int64_t x0 = items * t / parts, x1 = items * (t + 1) / parts;
    for (int64_t x = x0; x < x1; ++x) {
      const int64_t ch = x / mb, ib = x % mb;
      const int64_t jb1 = std::min(nb, (ch + 1) * chunk);
      const uint16_t* a = pa + 2 * ib * kb * tile_step;
      for (int64_t jb = ch * chunk; jb < jb1; ++jb) {
        block_product(a, kb * tile_step, pb + 2 * jb * kb * tile_step, kb * tile_step, kb, blk);
        write_block(g, blk, 32 * ib, 32 * jb);
      }
    }
    _tile_release();
  }, may_serialise);
  // the packed operands of a large product are not kept for the next call (1024^3 takes 12 MB)
  workspace.shrink(kKeepWorkspace);
  return true;
}

}  // namespace pk::cpu
