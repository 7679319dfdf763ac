// The visible draw of the CPU RBM's Gibbs chains (float32) with AMX-BF16 (see rbm_isa.h, rbm_amx).
//
// Why it is exact: the draw v = (u < sigmoid(h @ w + b)) only needs the side of the threshold.
// w is split into bf16 parts hi + lo (|w - hi - lo| <= 2^-17 |w|) and, h being 0/1, one bf16
// tile product of [h h] with [hi; lo] gives every pre-activation with an error bounded by a
// multiple of the column sums of |w| (bound[] below).  Units whose draw that bound settles (with a
// margin for the sigmoid's own error) take it; the others are recomputed exactly: the fp32 sum of
// the rows of w that h selects, in increasing order (exact_chunk), which is also what the "exact"
// path computes for every unit, so the two paths give the same bits.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/cpu_features.h"
#include "rbm_amx_common.h"
#include "rbm_isa.h"

namespace pk::cpu::rbm_amx {

namespace {

constexpr int kTileRows = 16;

// The exact pre-activation of columns j .. j + 15 (lanes `in`) of one row: 0 plus the rows
// idx[0 .. m) of w, one after the other.
inline __m512 exact_chunk(const float* w, int64_t nv, const int32_t* idx, int32_t m, int64_t j, __mmask16 in) {
  __m512 acc = _mm512_setzero_ps();
  for (int32_t p = 0; p < m; ++p) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(in, w + static_cast<int64_t>(idx[p]) * nv + j));
  return acc;
}

}  // namespace

bool bf16_available() {
#ifdef PK_NO_AMX
  return false;
#else
  return amx_bf16_available();
#endif
}

void sigmoid_coarse(const float* x, int64_t n, float* out) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 in = lanes(n - i);
    _mm512_mask_storeu_ps(out + i, in, sigmoid_coarse16(_mm512_maskz_loadu_ps(in, x + i)));
  }
}

bool available() {
#ifdef PK_NO_AMX
  return false;
#else
  return amx_available();
#endif
}

int64_t packed_size(int64_t nh, int64_t nv) { return 2 * ((nh + 31) / 32) * ((nv + 15) / 16) * 512; }

void pack(const float* w, int64_t nh, int64_t nv, int64_t t0, int64_t t1, uint16_t* packed) {
  const int64_t kb = (nh + 31) / 32, nt = (nv + 15) / 16;
  uint16_t* hi = packed;
  uint16_t* lo = packed + kb * nt * 512;
  // tile (k, t), row p: 16 pairs (w[32k + 2p, 16t + n], w[32k + 2p + 1, 16t + n]) as bf16
  for (int64_t k = 0; k < kb; ++k) {
    for (int64_t p = 0; p < 16; ++p) {
      const int64_t k0 = 32 * k + 2 * p, k1 = k0 + 1;
      for (int64_t t = t0; t < t1; ++t) {
        const __mmask16 in = lanes(nv - 16 * t);
        const __m512 x0 = k0 < nh ? _mm512_maskz_loadu_ps(in, w + k0 * nv + 16 * t) : _mm512_setzero_ps();
        const __m512 x1 = k1 < nh ? _mm512_maskz_loadu_ps(in, w + k1 * nv + 16 * t) : _mm512_setzero_ps();
        __m512i h0, h1, l0, l1;
        split_bf16(x0, &h0, &l0);
        split_bf16(x1, &h1, &l1);
        const int64_t at = (k * nt + t) * 512 + 32 * p;
        _mm512_store_si512(hi + at, _mm512_or_si512(_mm512_srli_epi32(h0, 16), h1));
        _mm512_store_si512(lo + at, _mm512_or_si512(_mm512_srli_epi32(l0, 16), l1));
      }
    }
  }
}

bool bound(const float* w, int64_t nh, int64_t nv, int64_t t0, int64_t t1, float* bound) {
  bool ok = true;
  for (int64_t t = t0; t < t1; ++t) {
    const __mmask16 in = lanes(nv - 16 * t);
    // four partial sums (any order of the additions is covered by column_bound)
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t h = 0; h < nh; ++h)
      s[h & 3] = _mm512_add_ps(s[h & 3], _mm512_abs_ps(_mm512_maskz_loadu_ps(in, w + h * nv + 16 * t)));
    alignas(64) float col[16];
    _mm512_store_ps(col, _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
    for (int i = 0; i < 16; ++i) {
      // NaN, infinities and huge weights: the bound would not hold (or overflow); the caller takes
      // another path.
      const float b = column_bound(col[i], nh);
      if (std::isinf(b)) ok = false;
      bound[16 * t + i] = ok ? b : 0.0f;
    }
  }
  return ok;
}

void visible_columns(const float* h, int64_t nh, const float* w, int64_t nv, const float* bias, const uint16_t* packed,
                     const float* bound, int64_t n, int64_t t0, int64_t t1, const PhiloxStream& stream, float* v,
                     const SparseRows<float>* vs, int32_t* counts) {
  const int64_t kb = (nh + 31) / 32, nt = (nv + 15) / 16;
  const int64_t j0 = 16 * t0, j1 = std::min(nv, 16 * t1), width = j1 - j0;
  if (width <= 0) {
    for (int64_t r = 0; r < n; ++r) counts[r] = 0;
    return;
  }
  thread_local AlignedBuffer<uint16_t> a_buf;
  thread_local AlignedBuffer<float> c_buf, units;
  thread_local AlignedBuffer<int32_t> h_idx, v_idx;
  thread_local AlignedBuffer<float> h_val, v_val;
  const int64_t ntiles = (n + kTileRows - 1) / kTileRows;
  const int64_t a_tile = kTileRows * kb * 32, c_tile = kTileRows * nt * 16;
  uint16_t* a = packed != nullptr ? a_buf.get(ntiles * a_tile) : nullptr;
  float* c = packed != nullptr ? c_buf.get(ntiles * c_tile) : nullptr;
  float* u = units.get((width + 8 + 63) / 64 * 64 + 64);
  int32_t* hidx = h_idx.get(nh);
  float* hval = h_val.get(nh);
  int32_t* idx_scratch = vs != nullptr ? nullptr : v_idx.get(width);
  float* val_scratch = vs != nullptr ? nullptr : v_val.get(width);
  if (packed != nullptr) {
    configure_tiles();
    // a: every row of h as bf16 (0 and 1 are exact), zero past nh and past the last row
    for (int64_t i = 0; i < ntiles * kTileRows; ++i) {
      for (int64_t k = 0; k < kb * 32; k += 16) {
        __m512i bits = _mm512_setzero_si512();
        if (i < n) bits = _mm512_castps_si512(_mm512_maskz_loadu_ps(lanes(nh - k), h + i * nh + k));
        _mm256_store_si256(reinterpret_cast<__m256i*>(a + i * kb * 32 + k), _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16)));
      }
    }
    // c: the pre-activations, column tile by column tile, each B tile loaded once per 4 row tiles.
    // NOTE: measured (rbm bench, 2 threads): row tile by row tile, reading all of this thread's B
    // (400 KB) again for each of the 7 row tiles, took the epoch's rbm_cd calls 52.4 ms, not 49.6.
    const uint16_t* hi = packed;
    const uint16_t* lo = packed + kb * nt * 512;
    for (int64_t t = t0; t < t1; ++t) tile_columns(a, a_tile, kb * 64, ntiles, hi, lo, kb, nt, t, c, c_tile, nt * 64);
    _tile_release();
  }
  const __m512i step = _mm512_set1_epi32(16);
  {
    const int64_t r0 = 0, r1 = n;
    for (int64_t r = r0; r < r1; ++r) {
      const uint64_t first = static_cast<uint64_t>(r * nv + j0);
      const uint64_t block0 = first >> 2;
      rbm_avx512::philox_units(stream, block0, static_cast<int64_t>(((first + static_cast<uint64_t>(width) + 3) >> 2) - block0), u);
      const float* ur = u + (first & 3) - j0;  // ur[j]: the uniform of unit j
      const float* cr = c + (r - r0) * nt * 16;
      float* sample = v + r * nv;
      int32_t* idx = vs != nullptr ? vs->idx + r * nv + j0 : idx_scratch;
      float* val = vs != nullptr ? vs->val + r * nv + j0 : val_scratch;
      int32_t m = -1;  // h's nonzeros in this row, listed at the first unit the bound leaves open
      int32_t count = 0;
      __m512i index = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                       _mm512_set1_epi32(static_cast<int>(j0)));
      for (int64_t j = j0; j < j1; j += 16) {
        const __mmask16 in = lanes(j1 - j);
        const __m512 uu = _mm512_maskz_loadu_ps(in, ur + j);
        const __m512 bb = _mm512_maskz_loadu_ps(in, bias + j);
        __mmask16 on = 0, open = in;
        if (packed != nullptr) on = settled_draws(_mm512_load_ps(cr + j), bb, _mm512_load_ps(bound + j), uu, in, &open);
        if (open != 0) {
          if (m < 0) m = rbm_avx512::find_nonzeros_row(h + r * nh, nh, hidx, hval);
          const __m512 x = _mm512_add_ps(exact_chunk(w, nv, hidx, m, j, in), bb);
          on = (on & static_cast<__mmask16>(~open)) | _mm512_mask_cmp_ps_mask(open, uu, sigmoid16(x), _CMP_LT_OQ);
        }
        count = store_draws(in, on, index, sample + j, idx, val, count);
        index = _mm512_add_epi32(index, step);
      }
      counts[r] = count;
    }
  }
}

}  // namespace pk::cpu::rbm_amx
