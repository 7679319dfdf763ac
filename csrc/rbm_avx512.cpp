// float32 AVX-512 kernels of the CPU RBM (see rbm_isa.h for what each computes).
#include <immintrin.h>

#include <algorithm>

#include "common/fastmath.h"
#include "rbm_avx512_math.h"
#include "rbm_isa.h"

namespace pk::cpu::rbm_avx512 {

namespace {

// hi and lo words of the 32 x 32 -> 64-bit products m * x, lane by lane.
inline void mul_hi_lo(__m512i m, __m512i x, __m512i* hi, __m512i* lo) {
  const __m512i even = _mm512_mul_epu32(x, m);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), m);
  *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// x[i] (16 rows) becomes x[i] = column i of the 16 x 16 block.
inline void transpose16(__m512* x) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(x[i], x[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(x[i], x[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    for (int s = 0; s < 2; ++s) {
      const __m512d lo = _mm512_castps_pd(t[i + s]), hi = _mm512_castps_pd(t[i + s + 2]);
      x[i + 2 * s] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
      x[i + 2 * s + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
    }
  }
  // x[4m + k] now holds, in 128-bit lane g, rows 4m .. 4m + 3 of column 4g + k.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(x[i], x[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(x[i], x[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(x[i + 8], x[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(x[i + 8], x[i + 12], 0xdd);
  }
  for (int i = 0; i < 8; ++i) {
    x[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    x[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

}  // namespace

void philox_units(const PhiloxStream& stream, uint64_t block0, int64_t nblocks, float* out) {
  using namespace philox_detail;
  // Lane 4g + k handles block 4k + g of the group, so that after the 4 x 4 word transposes below
  // vector k holds blocks 4k .. 4k + 3 in element order.
  const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(kMul0)), m1 = _mm512_set1_epi32(static_cast<int>(kMul1));
  const __m512 scale = _mm512_set1_ps(5.9604644775390625e-08f);
  for (int64_t g = 0; g < nblocks; g += 16) {
    const uint64_t base = block0 + static_cast<uint64_t>(g);
    const __m512i base_lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(base)));
    const __m512i base_hi = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(base >> 32)));
    __m512i x0 = _mm512_add_epi32(base_lo, perm);
    const __mmask16 carry = _mm512_cmplt_epu32_mask(x0, base_lo);
    __m512i x1 = _mm512_mask_add_epi32(base_hi, carry, base_hi, _mm512_set1_epi32(1));
    __m512i x2 = _mm512_set1_epi32(static_cast<int>(stream.c2)), x3 = _mm512_set1_epi32(static_cast<int>(stream.c3));
    uint32_t k0 = stream.k0, k1 = stream.k1;
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        k0 += kWeyl0;
        k1 += kWeyl1;
      }
      __m512i hi0, lo0, hi1, lo1;
      mul_hi_lo(m0, x0, &hi0, &lo0);
      mul_hi_lo(m1, x2, &hi1, &lo1);
      x0 = _mm512_ternarylogic_epi32(hi1, x1, _mm512_set1_epi32(static_cast<int>(k0)), 0x96);
      x1 = lo1;
      x2 = _mm512_ternarylogic_epi32(hi0, x3, _mm512_set1_epi32(static_cast<int>(k1)), 0x96);
      x3 = lo0;
    }
    const __m512i a = _mm512_unpacklo_epi32(x0, x1), b = _mm512_unpackhi_epi32(x0, x1);
    const __m512i c = _mm512_unpacklo_epi32(x2, x3), d = _mm512_unpackhi_epi32(x2, x3);
    const __m512i r[4] = {_mm512_unpacklo_epi64(a, c), _mm512_unpackhi_epi64(a, c), _mm512_unpacklo_epi64(b, d),
                          _mm512_unpackhi_epi64(b, d)};
    float* o = out + 4 * g;
    for (int k = 0; k < 4; ++k)
      _mm512_storeu_ps(o + 16 * k, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(r[k], 8)), scale));
  }
}

namespace {

// acc[q] += sum over nonzeros p0 .. p1 - 1 (row idx[p], value val[p]) of val * base[row * ld + 16 q ..];
// kOnes: every value is 1 (additions only); kMasked: the vectors hold mask[q]'s lanes only.
template <bool kOnes, bool kMasked, int NV>
inline void column_sum(const int32_t* idx, const float* val, int32_t p0, int32_t p1, const float* base, int64_t ld,
                       const __mmask16* mask, __m512* acc) {
  for (int32_t p = p0; p < p1; ++p) {
    const float* row = base + static_cast<int64_t>(idx[p]) * ld;
    const __m512 v = _mm512_set1_ps(kOnes ? 1.0f : val[p]);
#pragma GCC unroll 8
    for (int q = 0; q < NV; ++q) {
      const __m512 x = kMasked ? _mm512_maskz_loadu_ps(mask[q], row + 16 * q) : _mm512_loadu_ps(row + 16 * q);
      acc[q] = kOnes ? _mm512_add_ps(acc[q], x) : _mm512_fmadd_ps(v, x, acc[q]);
    }
  }
}

// out[0 .. 16 NV) = scale * (column j's sum over a - its sum over b), for hidden units h0 ..
template <bool kOnes, bool kMasked, int NV>
inline void dw_row(const SparseCols<float>& a, const float* pa, const SparseCols<float>& b, const float* pb,
                   int64_t j, int64_t h0, int64_t nh, const __mmask16* mask, __m512 scale, float* out) {
  // NOTE: two sums, subtracted at the end, so that equal chains (CD-0) give exactly 0.
  __m512 sa[NV], sb[NV];
  for (int q = 0; q < NV; ++q) sa[q] = sb[q] = _mm512_setzero_ps();
  column_sum<kOnes, kMasked, NV>(a.idx, a.val, a.start[j], a.start[j + 1], pa + h0, nh, mask, sa);
  column_sum<kOnes, kMasked, NV>(b.idx, b.val, b.start[j], b.start[j + 1], pb + h0, nh, mask, sb);
  for (int q = 0; q < NV; ++q) {
    const __m512 d = _mm512_mul_ps(_mm512_sub_ps(sa[q], sb[q]), scale);
    _mm512_store_ps(out + 16 * q, kMasked ? _mm512_maskz_mov_ps(mask[q], d) : d);
  }
}

}  // namespace

void sparse_dw(const SparseCols<float>& a, const float* pa, const SparseCols<float>& b, const float* pb, int64_t j0,
               int64_t j1, int64_t nh, int64_t nv, float scale, float* dw, float* scratch) {
  constexpr int kNV = 8;  // 128 hidden units per pass over a column's nonzeros
  const int64_t ld = (nh + 15) / 16 * 16;
  const __m512 s = _mm512_set1_ps(scale);
  const bool ones = a.ones && b.ones;
  for (int64_t jb = j0; jb < j1; jb += 16) {
    const int64_t jn = std::min<int64_t>(16, j1 - jb);
    // NOTE: the tile stores below hit a line in each of nh rows of dw; fetching those lines now,
    // while the column sums run, keeps the stores from stalling on them (measured: rbm bench).
    for (int64_t h = 0; h < nh; ++h) {
      _mm_prefetch(reinterpret_cast<const char*>(dw + h * nv + jb), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(dw + h * nv + jb + jn - 1), _MM_HINT_T0);
    }
    // scratch[jj, :] = row jb + jj of dw^T
    for (int64_t jj = 0; jj < 16; ++jj) {
      float* srow = scratch + jj * ld;
      if (jj >= jn) {
        for (int64_t h = 0; h < ld; h += 16) _mm512_store_ps(srow + h, _mm512_setzero_ps());
        continue;
      }
      const int64_t j = jb + jj;
      int64_t h0 = 0;
      for (; h0 + 16 * kNV <= nh; h0 += 16 * kNV) {
        if (ones) {
          dw_row<true, false, kNV>(a, pa, b, pb, j, h0, nh, nullptr, s, srow + h0);
        } else {
          dw_row<false, false, kNV>(a, pa, b, pb, j, h0, nh, nullptr, s, srow + h0);
        }
      }
      // the last hidden units: as many whole-or-masked vectors as they need, up to ld
      for (; h0 < nh; h0 += 16) {
        const __mmask16 m = lanes(nh - h0);
        if (ones) {
          dw_row<true, true, 1>(a, pa, b, pb, j, h0, nh, &m, s, srow + h0);
        } else {
          dw_row<false, true, 1>(a, pa, b, pb, j, h0, nh, &m, s, srow + h0);
        }
      }
    }
    // dw[h, jb .. jb + jn) = scratch[0 .. jn, h], 16 x 16 tiles
    const __mmask16 jmask = lanes(jn);
    for (int64_t ht = 0; ht < nh; ht += 16) {
      __m512 x[16];
      for (int i = 0; i < 16; ++i) x[i] = _mm512_load_ps(scratch + i * ld + ht);
      transpose16(x);
      const int64_t hn = std::min<int64_t>(16, nh - ht);
      for (int k = 0; k < hn; ++k) _mm512_mask_storeu_ps(dw + (ht + k) * nv + jb, jmask, x[k]);
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
      const int32_t count = x.count[r];
      // two partial sums (nonzeros p even, odd) per vector to hide the FMA latency
      __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
      int32_t p = 0;
      for (; p + 2 <= count; p += 2) {
        const float* pa = panel + static_cast<int64_t>(idx[p]) * 32;
        const float* pb = panel + static_cast<int64_t>(idx[p + 1]) * 32;
        const __m512 va = _mm512_set1_ps(val[p]), vb = _mm512_set1_ps(val[p + 1]);
        a0 = _mm512_fmadd_ps(va, _mm512_load_ps(pa), a0);
        a1 = _mm512_fmadd_ps(va, _mm512_load_ps(pa + 16), a1);
        b0 = _mm512_fmadd_ps(vb, _mm512_load_ps(pb), b0);
        b1 = _mm512_fmadd_ps(vb, _mm512_load_ps(pb + 16), b1);
      }
      if (p < count) {
        const float* pa = panel + static_cast<int64_t>(idx[p]) * 32;
        const __m512 va = _mm512_set1_ps(val[p]);
        a0 = _mm512_fmadd_ps(va, _mm512_load_ps(pa), a0);
        a1 = _mm512_fmadd_ps(va, _mm512_load_ps(pa + 16), a1);
      }
      _mm512_mask_storeu_ps(out + r * nh + hp, m0, _mm512_add_ps(a0, b0));
      _mm512_mask_storeu_ps(out + r * nh + hp + 16, m1, _mm512_add_ps(a1, b1));
    }
  }
}

int32_t find_nonzeros_row(const float* x, int64_t cols, int32_t* idx, float* val) {
  int32_t count = 0;
  const __m512i step = _mm512_set1_epi32(16);
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t j = 0; j < cols; j += 16) {
    const __mmask16 in = lanes(cols - j);
    const __m512 v = _mm512_maskz_loadu_ps(in, x + j);
    // NOTE: NaN != 0 holds (unordered compare), so a NaN reaches the products as in the GEMM path.
    const __mmask16 nz = _mm512_mask_cmp_ps_mask(in, v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    if (nz != 0) {
      const int n_nz = __builtin_popcount(nz);
      _mm512_mask_storeu_epi32(idx + count, lanes(n_nz), _mm512_maskz_compress_epi32(nz, index));
      _mm512_mask_storeu_ps(val + count, lanes(n_nz), _mm512_maskz_compress_ps(nz, v));
      count += n_nz;
    }
    index = _mm512_add_epi32(index, step);
  }
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
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512i step = _mm512_set1_epi32(16);
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int64_t j = 0; j < cols; j += 16) {
    const __mmask16 in = lanes(cols - j);
    const __mmask16 on = _mm512_mask_cmp_ps_mask(in, _mm512_maskz_loadu_ps(in, u + j),
                                                 _mm512_maskz_loadu_ps(in, a + j), _CMP_LT_OQ);
    _mm512_mask_storeu_ps(sample + j, in, _mm512_maskz_mov_ps(on, one));
    const int n_on = __builtin_popcount(on);
    // NOTE: a masked store of the compressed register, not a plain one: the next row's list, which
    // another thread may be writing, starts right after this row's capacity.
    _mm512_mask_storeu_epi32(idx + count, lanes(n_on), _mm512_maskz_compress_epi32(on, index));
    _mm512_mask_storeu_ps(val + count, lanes(n_on), one);
    count += n_on;
    index = _mm512_add_epi32(index, step);
  }
  return count;
}

}  // namespace pk::cpu::rbm_avx512
