// float32 AVX2 + FMA kernels of the CPU RBM (see rbm_isa.h for what each computes): the kernels of
// rbm_avx512.cpp with 8-float vectors, for CPUs without AVX-512, and the visible layer's sums over
// the hidden units on (binary_sums), which stand in for the AMX visible draw there.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "common/fastmath.h"
#include "rbm_isa.h"

namespace pk::cpu::rbm_avx2 {

namespace {

// Lanes [0, n) of 8 (n clamped to [0, 8]), sign bits set, for maskload / maskstore.
inline __m256i lane_mask(int64_t n) {
  const int m = static_cast<int>(std::clamp<int64_t>(n, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The lanes of each 8-bit mask packed to the front, one byte each (table[m] byte q: the q-th set bit
// of m): the compress that AVX2 lacks, by vpermd.
// NOTE: constexpr, built by the compiler: a constructor run when the module loads would run code
// of this file (compiled for AVX2) on every CPU.
struct CompressTable {
  uint64_t lanes[256];
  constexpr CompressTable() : lanes{} {
    for (unsigned m = 0; m < 256; ++m) {
      uint64_t packed = 0;
      int q = 0;
      for (int l = 0; l < 8; ++l)
        if (m & (1u << l)) packed |= static_cast<uint64_t>(l) << (8 * q++);
      lanes[m] = packed;
    }
  }
};
constexpr CompressTable kCompress{};

// The permutation that packs the lanes of mask bits m to the front.
inline __m256i compress_perm(unsigned m) {
  return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(kCompress.lanes[m])));
}

// Appends j + (the lanes set in bits) to idx[count ..] and, lane for lane, values to val[count ..];
// returns the new count.  Branch-free: the units on among random draws are unpredictable.
// kWhole: all 8 entries are written (plain stores), for callers whose list has room for 8 more (a
// row's list of capacity cols, at a group of 8 wholly inside the row: count <= j, j + 8 <= cols);
// else only the new entries (masked stores: the next row's list, which another thread may be
// writing, can start right after this one's).
// NOTE: masked stores are microcoded on AMD Zen (ymm vpmaskmovd: tens of cycles each), so the
// kernels keep them to the edges.
template <bool kWhole>
inline int32_t append_lanes(unsigned bits, int64_t j, __m256 values, int32_t* idx, float* val, int32_t count) {
  const __m256i perm = compress_perm(bits);
  const int n = __builtin_popcount(bits);
  const __m256i ids = _mm256_add_epi32(perm, _mm256_set1_epi32(static_cast<int>(j)));
  if constexpr (kWhole) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(idx + count), ids);
    if (val != nullptr) _mm256_storeu_ps(val + count, _mm256_permutevar8x32_ps(values, perm));
  } else {
    const __m256i keep = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_epi32(idx + count, keep, ids);
    if (val != nullptr) _mm256_maskstore_ps(val + count, keep, _mm256_permutevar8x32_ps(values, perm));
  }
  return count + n;
}

// r[i] (8 rows) becomes column i of the 8 x 8 block.
inline void transpose8(__m256* r) {
  __m256 t[8], s[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // s[i], s[i + 4] hold rows 0-3 and 4-7 of columns i (low half) and i + 4 (high half)
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
  }
}

// kSets vectors of 4 blocks each: 64-bit lane L of vector v computes block base + 4 v + kLane[L]
// (kLane = 0, 2, 1, 3: the unpacks at the end then put the words in element order), word x0 of the
// counter in the low dword of the lane holding x0 (likewise x1, x2, x3), as in rbm_avx512.cpp: the
// 32 x 32 -> 64-bit multiply reads the low dwords and leaves lo in the low dword, hi in the high one.
template <int kSets>
inline void philox_sets(const uint32_t* keys, __m256i c2, __m256i c3, uint64_t base, float* out) {
  using namespace philox_detail;
  const __m256i lane = _mm256_setr_epi64x(0, 2, 1, 3);
  const __m256i m0 = _mm256_set1_epi64x(kMul0), m1 = _mm256_set1_epi64x(kMul1);
  __m256i x0[kSets], x1[kSets], x2[kSets], x3[kSets];
  for (int v = 0; v < kSets; ++v) {
    const __m256i ctr =
        _mm256_add_epi64(_mm256_set1_epi64x(static_cast<int64_t>(base + 4 * static_cast<uint64_t>(v))), lane);
    x0[v] = ctr;
    x1[v] = _mm256_srli_epi64(ctr, 32);
    x2[v] = c2;
    x3[v] = c3;
  }
#pragma GCC unroll 10
  for (int round = 0; round < 10; ++round) {
    const __m256i k0 = _mm256_set1_epi32(static_cast<int>(keys[2 * round]));
    const __m256i k1 = _mm256_set1_epi32(static_cast<int>(keys[2 * round + 1]));
#pragma GCC unroll 4
    for (int v = 0; v < kSets; ++v) {
      const __m256i p0 = _mm256_mul_epu32(x0[v], m0), p1 = _mm256_mul_epu32(x2[v], m1);
      x0[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_shuffle_epi32(p1, 0xB1), x1[v]), k0);
      x1[v] = p1;
      x2[v] = _mm256_xor_si256(_mm256_xor_si256(_mm256_shuffle_epi32(p0, 0xB1), x3[v]), k1);
      x3[v] = p0;
    }
  }
  const __m256 scale = _mm256_set1_ps(5.9604644775390625e-08f);
  for (int v = 0; v < kSets; ++v) {
    const __m256i w01 = _mm256_blend_epi32(x0[v], _mm256_shuffle_epi32(x1[v], 0xB1), 0xAA);
    const __m256i w23 = _mm256_blend_epi32(x2[v], _mm256_shuffle_epi32(x3[v], 0xB1), 0xAA);
    const __m256i r0 = _mm256_unpacklo_epi64(w01, w23), r1 = _mm256_unpackhi_epi64(w01, w23);
    _mm256_storeu_ps(out + 16 * v, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(r0, 8)), scale));
    _mm256_storeu_ps(out + 16 * v + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(r1, 8)), scale));
  }
}

}  // namespace

void philox_units(const PhiloxStream& stream, uint64_t block0, int64_t nblocks, float* out) {
  uint32_t keys[20];
  philox_round_keys(stream, keys);
  const __m256i c2 = _mm256_set1_epi64x(stream.c2), c3 = _mm256_set1_epi64x(stream.c3);
  // 16 blocks at a time (four independent chains of multiplies in flight); the last group may
  // write past 4 * nblocks, up to the next multiple of 64 floats (rbm_isa.h)
  for (int64_t g = 0; g < nblocks; g += 16)
    philox_sets<4>(keys, c2, c3, block0 + static_cast<uint64_t>(g), out + 4 * g);
}

namespace {

// s[0 .. 4) = sum over nonzeros p0 .. p1 - 1 (row idx[p], value val[p]) of val * base[32 row + 0 .. 32)
// (a column's nonzeros in sparse_dw, a row's in sparse_hidden); kOnes: every value is 1 (additions
// only).  Two partial sums (nonzeros p even, odd) per vector: 8 chains hide the additions' latency.
template <bool kOnes>
inline void column_sum32(const int32_t* idx, const float* val, int32_t p0, int32_t p1, const float* base, __m256* s) {
  __m256 a[4], b[4];
  for (int i = 0; i < 4; ++i) a[i] = b[i] = _mm256_setzero_ps();
  int32_t p = p0;
  for (; p + 2 <= p1; p += 2) {
    const float* ra = base + 32 * static_cast<int64_t>(idx[p]);
    const float* rb = base + 32 * static_cast<int64_t>(idx[p + 1]);
    if constexpr (kOnes) {
      for (int i = 0; i < 4; ++i) {
        a[i] = _mm256_add_ps(a[i], _mm256_load_ps(ra + 8 * i));
        b[i] = _mm256_add_ps(b[i], _mm256_load_ps(rb + 8 * i));
      }
    } else {
      const __m256 va = _mm256_set1_ps(val[p]), vb = _mm256_set1_ps(val[p + 1]);
      for (int i = 0; i < 4; ++i) {
        a[i] = _mm256_fmadd_ps(va, _mm256_load_ps(ra + 8 * i), a[i]);
        b[i] = _mm256_fmadd_ps(vb, _mm256_load_ps(rb + 8 * i), b[i]);
      }
    }
  }
  if (p < p1) {
    const float* ra = base + 32 * static_cast<int64_t>(idx[p]);
    if constexpr (kOnes) {
      for (int i = 0; i < 4; ++i) a[i] = _mm256_add_ps(a[i], _mm256_load_ps(ra + 8 * i));
    } else {
      const __m256 va = _mm256_set1_ps(val[p]);
      for (int i = 0; i < 4; ++i) a[i] = _mm256_fmadd_ps(va, _mm256_load_ps(ra + 8 * i), a[i]);
    }
  }
  for (int i = 0; i < 4; ++i) s[i] = _mm256_add_ps(a[i], b[i]);
}

// Rows jb .. jb + jn - 1 (jn <= 8) of dw^T for one block of 32 hidden units (ca, cb: the block's
// columns of pa and pb, rows x 32) into tile (8 x 32; rows past jn zero), not yet scaled.
template <bool kOnes>
inline void dw_block(const SparseCols<float>& a, const float* ca, const SparseCols<float>& b, const float* cb,
                     int64_t jb, int64_t jn, float* tile) {
  for (int64_t jj = 0; jj < 8; ++jj) {
    __m256 d[4];
    for (int i = 0; i < 4; ++i) d[i] = _mm256_setzero_ps();
    if (jj < jn) {
      const int64_t j = jb + jj;
      // NOTE: two sums, subtracted at the end, so that equal chains (CD-0) give exactly 0.
      __m256 sa[4], sb[4];
      column_sum32<kOnes>(a.idx, a.val, a.start[j], a.start[j + 1], ca, sa);
      column_sum32<kOnes>(b.idx, b.val, b.start[j], b.start[j + 1], cb, sb);
      for (int i = 0; i < 4; ++i) d[i] = _mm256_sub_ps(sa[i], sb[i]);
    }
    for (int i = 0; i < 4; ++i) _mm256_store_ps(tile + 32 * jj + 8 * i, d[i]);
  }
}

}  // namespace

void sparse_dw(const SparseCols<float>& a, const float* pa, const SparseCols<float>& b, const float* pb, int64_t rows,
               int64_t j0, int64_t j1, int64_t nh, int64_t nv, float scale, float* dw, float* scratch) {
  const __m256 s = _mm256_set1_ps(scale);
  const bool ones = a.ones && b.ones;
  float* tile = scratch;
  float* ca = scratch + 16 * 32;
  float* cb = ca + rows * 32;
  // Blocks of 32 hidden units: their columns of pa and pb are copied out (rows x 32 each, 12.8 KB
  // for a batch of 100) and stay in L1 while every visible unit's nonzeros sum them.
  for (int64_t hb = 0; hb < nh; hb += 32) {
    const int64_t hn = std::min<int64_t>(32, nh - hb);
    __m256i m[4];
    for (int i = 0; i < 4; ++i) m[i] = lane_mask(hn - 8 * i);
    for (int64_t r = 0; r < rows; ++r) {
      for (int i = 0; i < 4; ++i) {
        const float* ra = pa + r * nh + hb + 8 * i;
        const float* rb = pb + r * nh + hb + 8 * i;
        _mm256_store_ps(ca + 32 * r + 8 * i, hn == 32 ? _mm256_loadu_ps(ra) : _mm256_maskload_ps(ra, m[i]));
        _mm256_store_ps(cb + 32 * r + 8 * i, hn == 32 ? _mm256_loadu_ps(rb) : _mm256_maskload_ps(rb, m[i]));
      }
    }
    for (int64_t jb = j0; jb < j1; jb += 8) {
      const int64_t jn = std::min<int64_t>(8, j1 - jb);
      // (the copies are zero past the last hidden unit, so no lanes need masking)
      if (ones) {
        dw_block<true>(a, ca, b, cb, jb, jn, tile);
      } else {
        dw_block<false>(a, ca, b, cb, jb, jn, tile);
      }
      // dw[hb + k, jb .. jb + jn) = tile[0 .. jn, k], as four 8 x 8 blocks
      const __m256i jmask = lane_mask(jn);
      for (int q = 0; q < 4 && 8 * q < hn; ++q) {
        __m256 x[8];
        for (int i = 0; i < 8; ++i) x[i] = _mm256_load_ps(tile + 32 * i + 8 * q);
        transpose8(x);
        const int64_t nrow = std::min<int64_t>(8, hn - 8 * q);
        float* out = dw + (hb + 8 * q) * nv + jb;
        if (jn == 8) {
          for (int k = 0; k < nrow; ++k) _mm256_storeu_ps(out + k * nv, _mm256_mul_ps(x[k], s));
        } else {
          for (int k = 0; k < nrow; ++k) _mm256_maskstore_ps(out + k * nv, jmask, _mm256_mul_ps(x[k], s));
        }
      }
    }
  }
}

void sparse_hidden(const SparseRows<float>& x, int64_t rows, const float* w, int64_t nh, int64_t h0, int64_t h1,
                   float* out, float* panel) {
  const int64_t nv = x.cols;
  // binary rows (data, samples) take additions alone (latency 3, not the multiply-add's 4)
  bool ones = true;
  for (int64_t r = 0; r < rows && ones; ++r)
    for (int32_t p = 0; p < x.count[r]; ++p) ones = ones && x.val[r * nv + p] == 1.0f;
  for (int64_t hp = h0; hp < h1; hp += 32) {
    const int64_t hn = std::min<int64_t>(32, h1 - hp);
    // panel[32 j + l] = w[hp + l, j] (0 past the last hidden unit), 8 x 8 blocks at a time
    for (int q = 0; q < 4; ++q) {
      const int64_t rows_here = std::min<int64_t>(8, hn - 8 * q);
      const float* wq = w + (hp + 8 * q) * nv;
      float* pq = panel + 8 * q;
      int64_t j = 0;
      for (; j + 8 <= nv; j += 8) {
        __m256 t[8];
        for (int i = 0; i < 8; ++i) t[i] = i < rows_here ? _mm256_loadu_ps(wq + i * nv + j) : _mm256_setzero_ps();
        transpose8(t);
        for (int i = 0; i < 8; ++i) _mm256_store_ps(pq + (j + i) * 32, t[i]);
      }
      for (; j < nv; ++j)
        for (int i = 0; i < 8; ++i) pq[j * 32 + i] = i < rows_here ? wq[i * nv + j] : 0.0f;
    }
    __m256i m[4];
    for (int i = 0; i < 4; ++i) m[i] = lane_mask(hn - 8 * i);
    for (int64_t r = 0; r < rows; ++r) {
      __m256 s[4];
      if (ones) {
        column_sum32<true>(x.idx + r * nv, nullptr, 0, x.count[r], panel, s);
      } else {
        column_sum32<false>(x.idx + r * nv, x.val + r * nv, 0, x.count[r], panel, s);
      }
      float* o = out + r * nh + hp;
      if (hn == 32) {
        for (int i = 0; i < 4; ++i) _mm256_storeu_ps(o + 8 * i, s[i]);
      } else {
        for (int i = 0; i < 4; ++i) _mm256_maskstore_ps(o + 8 * i, m[i], s[i]);
      }
    }
  }
}

namespace {

// s[0 .. 2) = sum over list[0 .. count) of w[k nv + 0 .. 16) (masked by m: the last block of a
// row), with two partial sums (even and odd places of the list).
template <bool kMasked>
inline void rows_sum16(const int32_t* list, int32_t count, const float* w, int64_t nv, const __m256i* m, __m256* s) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
  auto load = [&](const float* p, int i) {
    if constexpr (kMasked) {
      return _mm256_maskload_ps(p + 8 * i, m[i]);
    } else {
      return _mm256_loadu_ps(p + 8 * i);
    }
  };
  int32_t p = 0;
  for (; p + 2 <= count; p += 2) {
    const float* ra = w + list[p] * nv;
    const float* rb = w + list[p + 1] * nv;
    a0 = _mm256_add_ps(a0, load(ra, 0));
    a1 = _mm256_add_ps(a1, load(ra, 1));
    b0 = _mm256_add_ps(b0, load(rb, 0));
    b1 = _mm256_add_ps(b1, load(rb, 1));
  }
  if (p < count) {
    const float* ra = w + list[p] * nv;
    a0 = _mm256_add_ps(a0, load(ra, 0));
    a1 = _mm256_add_ps(a1, load(ra, 1));
  }
  s[0] = _mm256_add_ps(a0, b0);
  s[1] = _mm256_add_ps(a1, b1);
}

}  // namespace

void binary_sums(const float* h, int64_t rows, int64_t nh, const float* w, int64_t nv, int64_t j0, int64_t j1,
                 float* out, int32_t* lists, int32_t* counts) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* hr = h + r * nh;
    int32_t* list = lists + r * nh;
    int32_t count = 0;
    int64_t k = 0;
    for (; k + 8 <= nh; k += 8) {
      const __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(hr + k), _mm256_setzero_ps(), _CMP_NEQ_UQ);
      count = append_lanes<true>(static_cast<unsigned>(_mm256_movemask_ps(on)), k, on, list, nullptr, count);
    }
    for (; k < nh; ++k)
      if (hr[k] != 0.0f) list[count++] = static_cast<int32_t>(k);
    counts[r] = count;
  }
  // Blocks of 16 columns: the block's slice of w (nh lines of 64 bytes, 16 KB for 256 hidden
  // units) stays in L1 while every row sums its units' lines.
  for (int64_t jb = j0; jb < j1; jb += 16) {
    const int64_t jn = std::min<int64_t>(16, j1 - jb);
    const __m256i m[2] = {lane_mask(jn), lane_mask(jn - 8)};
    for (int64_t r = 0; r < rows; ++r) {
      __m256 s[2];
      float* o = out + r * nv + jb;
      if (jn == 16) {
        rows_sum16<false>(lists + r * nh, counts[r], w + jb, nv, m, s);
        _mm256_storeu_ps(o, s[0]);
        _mm256_storeu_ps(o + 8, s[1]);
      } else {
        rows_sum16<true>(lists + r * nh, counts[r], w + jb, nv, m, s);
        _mm256_maskstore_ps(o, m[0], s[0]);
        _mm256_maskstore_ps(o + 8, m[1], s[1]);
      }
    }
  }
}

int32_t find_nonzeros_row(const float* x, int64_t cols, int32_t* idx, float* val, bool* outside) {
  int32_t count = 0;
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  __m256 bad = zero;
  auto group = [&](auto whole, int64_t j, __m256 v) {
    // NOTE: NaN != 0 holds (unordered compare), so a NaN reaches the products as in the GEMM path.
    // (lanes past the end load 0: never a nonzero, never outside)
    const unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_NEQ_UQ)));
    if (outside != nullptr)
      bad = _mm256_or_ps(bad, _mm256_or_ps(_mm256_cmp_ps(v, zero, _CMP_NGE_UQ), _mm256_cmp_ps(v, one, _CMP_GT_OQ)));
    // (mostly-zero data: most groups of 8 have no nonzero)
    if (bits != 0) count = append_lanes<decltype(whole)::value>(bits, j, v, idx, val, count);
  };
  int64_t j = 0;
  for (; j + 8 <= cols; j += 8) group(std::true_type{}, j, _mm256_loadu_ps(x + j));
  if (j < cols) group(std::false_type{}, j, _mm256_maskload_ps(x + j, lane_mask(cols - j)));
  if (outside != nullptr && _mm256_movemask_ps(bad) != 0) *outside = true;
  return count;
}

int32_t activate_row(float* a, const float* bias, int64_t cols, const float* u, float* sample, int32_t* idx,
                     float* val) {
  if (bias != nullptr) {
    // (fastmath's sigmoid vectorised by the compiler for AVX2: the portable kernel's bits)
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) a[j] = fastmath::sigmoid(a[j] + bias[j]);
  }
  if (u == nullptr) return 0;
  int32_t count = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t j = 0;
  for (; j + 8 <= cols; j += 8) {
    const __m256 on = _mm256_cmp_ps(_mm256_loadu_ps(u + j), _mm256_loadu_ps(a + j), _CMP_LT_OQ);
    _mm256_storeu_ps(sample + j, _mm256_and_ps(on, one));
    count = append_lanes<true>(static_cast<unsigned>(_mm256_movemask_ps(on)), j, one, idx, val, count);
  }
  for (; j < cols; ++j) {
    const bool on = u[j] < a[j];
    sample[j] = on ? 1.0f : 0.0f;
    if (on) {
      idx[count] = static_cast<int32_t>(j);
      val[count++] = 1.0f;
    }
  }
  return count;
}

}  // namespace pk::cpu::rbm_avx2
