// float32 AVX-512 kernels of the CPU RBM (see rbm_isa.h for what each computes).
#include <immintrin.h>

#include <algorithm>

#include "common/fastmath.h"
#include "rbm_avx512_math.h"
#include "rbm_isa.h"

namespace pk::cpu::rbm_avx512 {

namespace {

// kSets vectors of 8 blocks each: 64-bit lane L of vector v computes block base + 8 v + kLane[L]
// (so that the unpacks at the end put the words in element order), with word x0 of the counter in
// the low dword of the lane holding x0 (and likewise x1, x2, x3): the 32 x 32 -> 64-bit multiply
// takes the low dwords and leaves lo in the low dword and hi in the high one of the lane, so a
// round is 2 multiplies, 2 dword swaps (shuffles: port 5, beside the multiplies) and 2 three-way
// xors per 8 blocks. The high dwords hold leftovers that no multiply or store reads.
// NOTE: measured (pykernels._cpu._philox_blocks, 9800 blocks = 39200 uniforms, one thread, with
// the copy out): 17.6-19.0 us against 22.4 with 16 blocks a vector (the dwords in place: hi and lo
// each put back into their lanes by 3 shuffles and 2 blends per multiply pair).
template <int kSets>
inline void philox_sets(const uint32_t* keys, __m512i c2, __m512i c3, uint64_t base, float* out) {
  using namespace philox_detail;
  const __m512i lane = _mm512_setr_epi64(0, 4, 1, 5, 2, 6, 3, 7);
  const __m512i m0 = _mm512_set1_epi64(kMul0), m1 = _mm512_set1_epi64(kMul1);
  __m512i x0[kSets], x1[kSets], x2[kSets], x3[kSets];
#pragma GCC unroll 4
  for (int v = 0; v < kSets; ++v) {
    const __m512i ctr = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(base + 8 * static_cast<uint64_t>(v))), lane);
    x0[v] = ctr;
    x1[v] = _mm512_srli_epi64(ctr, 32);
    x2[v] = c2;
    x3[v] = c3;
  }
#pragma GCC unroll 10
  for (int round = 0; round < 10; ++round) {
    const __m512i k0 = _mm512_set1_epi32(static_cast<int>(keys[2 * round]));
    const __m512i k1 = _mm512_set1_epi32(static_cast<int>(keys[2 * round + 1]));
#pragma GCC unroll 4
    for (int v = 0; v < kSets; ++v) {
      const __m512i p0 = _mm512_mul_epu32(x0[v], m0), p1 = _mm512_mul_epu32(x2[v], m1);
      x0[v] = _mm512_ternarylogic_epi32(_mm512_shuffle_epi32(p1, _MM_PERM_CDAB), x1[v], k0, 0x96);
      x1[v] = p1;
      x2[v] = _mm512_ternarylogic_epi32(_mm512_shuffle_epi32(p0, _MM_PERM_CDAB), x3[v], k1, 0x96);
      x3[v] = p0;
    }
  }
  const __m512 scale = _mm512_set1_ps(5.9604644775390625e-08f);
#pragma GCC unroll 4
  for (int v = 0; v < kSets; ++v) {
    // lanes (x0, x1) and (x2, x3) of each block, then blocks 0-3 and 4-7 of the vector in order
    const __m512i w01 = _mm512_mask_shuffle_epi32(x0[v], 0xAAAA, x1[v], _MM_PERM_CDAB);
    const __m512i w23 = _mm512_mask_shuffle_epi32(x2[v], 0xAAAA, x3[v], _MM_PERM_CDAB);
    const __m512i r0 = _mm512_unpacklo_epi64(w01, w23), r1 = _mm512_unpackhi_epi64(w01, w23);
    _mm512_storeu_ps(out + 32 * v, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(r0, 8)), scale));
    _mm512_storeu_ps(out + 32 * v + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(r1, 8)), scale));
  }
}

}  // namespace

void philox_units(const PhiloxStream& stream, uint64_t block0, int64_t nblocks, float* out) {
  uint32_t keys[20];
  philox_round_keys(stream, keys);
  const __m512i c2 = _mm512_set1_epi64(stream.c2), c3 = _mm512_set1_epi64(stream.c3);
  // 32 blocks at a time (four independent chains of multiplies in flight), then 16 or 32 for the
  // rest: whole groups of 16 blocks, as before
  int64_t g = 0;
  for (; g + 32 <= nblocks; g += 32) philox_sets<4>(keys, c2, c3, block0 + static_cast<uint64_t>(g), out + 4 * g);
  if (g + 16 < nblocks) {
    philox_sets<4>(keys, c2, c3, block0 + static_cast<uint64_t>(g), out + 4 * g);
  } else if (g < nblocks) {
    philox_sets<2>(keys, c2, c3, block0 + static_cast<uint64_t>(g), out + 4 * g);
  }
}

namespace {

// (s0, s1) = sum over nonzeros p0 .. p1 - 1 (row idx[p], value val[p]) of val * base[32 row + 0 .. 32)
// (a column's nonzeros in sparse_dw, a row's in sparse_hidden);
// kOnes: every value is 1 (additions only).  Two partial sums (nonzeros p even, odd) per vector hide
// the latency of the additions.
template <bool kOnes>
inline void column_sum32(const int32_t* idx, const float* val, int32_t p0, int32_t p1, const float* base, __m512* s0,
                         __m512* s1) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
  int32_t p = p0;
  for (; p + 2 <= p1; p += 2) {
    const float* ra = base + 32 * static_cast<int64_t>(idx[p]);
    const float* rb = base + 32 * static_cast<int64_t>(idx[p + 1]);
    if constexpr (kOnes) {
      a0 = _mm512_add_ps(a0, _mm512_load_ps(ra));
      a1 = _mm512_add_ps(a1, _mm512_load_ps(ra + 16));
      b0 = _mm512_add_ps(b0, _mm512_load_ps(rb));
      b1 = _mm512_add_ps(b1, _mm512_load_ps(rb + 16));
    } else {
      const __m512 va = _mm512_set1_ps(val[p]), vb = _mm512_set1_ps(val[p + 1]);
      a0 = _mm512_fmadd_ps(va, _mm512_load_ps(ra), a0);
      a1 = _mm512_fmadd_ps(va, _mm512_load_ps(ra + 16), a1);
      b0 = _mm512_fmadd_ps(vb, _mm512_load_ps(rb), b0);
      b1 = _mm512_fmadd_ps(vb, _mm512_load_ps(rb + 16), b1);
    }
  }
  if (p < p1) {
    const float* ra = base + 32 * static_cast<int64_t>(idx[p]);
    if constexpr (kOnes) {
      a0 = _mm512_add_ps(a0, _mm512_load_ps(ra));
      a1 = _mm512_add_ps(a1, _mm512_load_ps(ra + 16));
    } else {
      const __m512 va = _mm512_set1_ps(val[p]);
      a0 = _mm512_fmadd_ps(va, _mm512_load_ps(ra), a0);
      a1 = _mm512_fmadd_ps(va, _mm512_load_ps(ra + 16), a1);
    }
  }
  *s0 = _mm512_add_ps(a0, b0);
  *s1 = _mm512_add_ps(a1, b1);
}

// Rows jb .. jb + jn - 1 (jn <= 16) of dw^T for one block of 32 hidden units (ca, cb: the block's
// columns of pa and pb, rows x 32) into tile (16 x 32; rows past jn zero), not yet scaled.
template <bool kOnes>
inline void dw_block(const SparseCols<float>& a, const float* ca, const SparseCols<float>& b, const float* cb,
                     int64_t jb, int64_t jn, float* tile) {
  for (int64_t jj = 0; jj < 16; ++jj) {
    __m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
    if (jj < jn) {
      const int64_t j = jb + jj;
      // NOTE: two sums, subtracted at the end, so that equal chains (CD-0) give exactly 0.
      __m512 sa0, sa1, sb0, sb1;
      column_sum32<kOnes>(a.idx, a.val, a.start[j], a.start[j + 1], ca, &sa0, &sa1);
      column_sum32<kOnes>(b.idx, b.val, b.start[j], b.start[j + 1], cb, &sb0, &sb1);
      d0 = _mm512_sub_ps(sa0, sb0);
      d1 = _mm512_sub_ps(sa1, sb1);
    }
    _mm512_store_ps(tile + 32 * jj, d0);
    _mm512_store_ps(tile + 32 * jj + 16, d1);
  }
}

}  // namespace

void sparse_dw(const SparseCols<float>& a, const float* pa, const SparseCols<float>& b, const float* pb, int64_t rows,
               int64_t j0, int64_t j1, int64_t nh, int64_t nv, float scale, float* dw, float* scratch) {
  const __m512 s = _mm512_set1_ps(scale);
  const bool ones = a.ones && b.ones;
  float* tile = scratch;
  float* ca = scratch + 16 * 32;
  float* cb = ca + rows * 32;
  // Blocks of 32 hidden units: their columns of pa and pb are copied out (rows x 32 each, 25.6 KB for a
  // batch of 100) and stay in L1 while every visible unit's nonzeros sum them.
  // NOTE: measured (one thread, the rbm bench's epoch): summing 128 units at a time in place, rows nh
  // floats apart (a power-of-2 stride that maps the rows onto a few cache sets), took 141 us per
  // batch against 108 us; 64-unit blocks (one index load per 4 vectors) were no faster.
  for (int64_t hb = 0; hb < nh; hb += 32) {
    const int64_t hn = std::min<int64_t>(32, nh - hb);
    const __mmask16 m0 = lanes(hn), m1 = lanes(hn - 16);
    for (int64_t r = 0; r < rows; ++r) {
      _mm512_store_ps(ca + 32 * r, _mm512_maskz_loadu_ps(m0, pa + r * nh + hb));
      _mm512_store_ps(ca + 32 * r + 16, _mm512_maskz_loadu_ps(m1, pa + r * nh + hb + 16));
      _mm512_store_ps(cb + 32 * r, _mm512_maskz_loadu_ps(m0, pb + r * nh + hb));
      _mm512_store_ps(cb + 32 * r + 16, _mm512_maskz_loadu_ps(m1, pb + r * nh + hb + 16));
    }
    for (int64_t jb = j0; jb < j1; jb += 16) {
      const int64_t jn = std::min<int64_t>(16, j1 - jb);
      // (the copies are zero past the last hidden unit, so no lanes need masking)
      if (ones) {
        dw_block<true>(a, ca, b, cb, jb, jn, tile);
      } else {
        dw_block<false>(a, ca, b, cb, jb, jn, tile);
      }
      // dw[hb + k, jb .. jb + jn) = scratch[0 .. jn, k], as two 16 x 16 tiles
      const __mmask16 jmask = lanes(jn);
      for (int half = 0; half < 2 && 16 * half < hn; ++half) {
        __m512 x[16];
        for (int i = 0; i < 16; ++i) x[i] = _mm512_load_ps(tile + 32 * i + 16 * half);
        transpose16(x);
        const int64_t nrow = std::min<int64_t>(16, hn - 16 * half);
        for (int k = 0; k < nrow; ++k) _mm512_mask_storeu_ps(dw + (hb + 16 * half + k) * nv + jb, jmask, _mm512_mul_ps(x[k], s));
      }
    }
  }
}

void sparse_hidden(const SparseRows<float>& x, int64_t rows, const float* w, int64_t nh, int64_t h0, int64_t h1,
                   float* out, float* panel) {
  const int64_t nv = x.cols;
  for (int64_t hp = h0; hp < h1; hp += 32) {
    const int64_t hn = std::min<int64_t>(32, h1 - hp);
    const __mmask16 m0 = lanes(hn), m1 = lanes(hn - 16);
    // panel[32 j + l] = w[hp + l, j] (0 past the last hidden unit)
    for (int half = 0; half < 2; ++half) {
      const int64_t rows_here = std::min<int64_t>(16, hn - 16 * half);
      const float* wh = w + (hp + 16 * half) * nv;
      float* ph = panel + 16 * half;
      int64_t j = 0;
      for (; j + 16 <= nv; j += 16) {
        __m512 t[16];
        for (int i = 0; i < 16; ++i) t[i] = i < rows_here ? _mm512_loadu_ps(wh + i * nv + j) : _mm512_setzero_ps();
        transpose16(t);
        for (int i = 0; i < 16; ++i) _mm512_store_ps(ph + (j + i) * 32, t[i]);
      }
      for (; j < nv; ++j)
        for (int i = 0; i < 16; ++i) ph[j * 32 + i] = i < rows_here ? wh[i * nv + j] : 0.0f;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t* idx = x.idx + r * nv;
      const float* val = x.val + r * nv;
      __m512 s0, s1;
      column_sum32<false>(idx, val, 0, x.count[r], panel, &s0, &s1);
      _mm512_mask_storeu_ps(out + r * nh + hp, m0, s0);
      _mm512_mask_storeu_ps(out + r * nh + hp + 16, m1, s1);
    }
  }
}

int32_t find_nonzeros_row(const float* x, int64_t cols, int32_t* idx, float* val, bool* outside) {
  int32_t count = 0;
  const __m512i step = _mm512_set1_epi32(16);
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __mmask16 bad = 0;
  for (int64_t j = 0; j < cols; j += 16) {
    const __mmask16 in = lanes(cols - j);
    const __m512 v = _mm512_maskz_loadu_ps(in, x + j);
    // NOTE: NaN != 0 holds (unordered compare), so a NaN reaches the products as in the GEMM path.
    const __mmask16 nz = _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    if (outside != nullptr)
      bad |= _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NGE_UQ) |
             _mm512_mask_cmp_ps_mask(in, v, _mm512_set1_ps(1.0f), _CMP_GT_OQ);
    if (nz != 0) {
      const int n_nz = __builtin_popcount(nz);
      _mm512_mask_storeu_epi32(idx + count, first_lanes(n_nz), _mm512_maskz_compress_epi32(nz, index));
      _mm512_mask_storeu_ps(val + count, first_lanes(n_nz), _mm512_maskz_compress_ps(nz, v));
      count += n_nz;
    }
    index = _mm512_add_epi32(index, step);
  }
  if (bad != 0) *outside = true;
  return count;
}

int32_t activate_row(float* a, const float* bias, int64_t cols, const float* u, float* sample, int32_t* idx,
                     float* val) {
  if (bias != nullptr) {
    for (int64_t j = 0; j < cols; j += 16) {
      const __mmask16 in = lanes(cols - j);
      const __m512 x = _mm512_add_ps(_mm512_maskz_loadu_ps(in, a + j), _mm512_maskz_loadu_ps(in, bias + j));
      _mm512_mask_storeu_ps(a + j, in, sigmoid16(x));
    }
  }
  if (u == nullptr) return 0;
  int32_t count = 0;
  const __m512i step = _mm512_set1_epi32(16);
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t j = 0; j < cols; j += 16) {
    const __mmask16 in = lanes(cols - j);
    const __mmask16 on = _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, u + j),
                                                 _mm512_maskz_loadu_ps(in, a + j), _CMP_LT_OQ);
    count = store_draws(in, on, index, sample + j, idx, val, count);
    index = _mm512_add_epi32(index, step);
  }
  return count;
}

}  // namespace pk::cpu::rbm_avx512
