#include "pcg64.h"

#include <omp.h>

#include <algorithm>

#include "common/parallel.h"

namespace pk::cpu {

namespace {

using u128 = unsigned __int128;

// numpy/random/src/pcg64/pcg64.h: PCG_DEFAULT_MULTIPLIER_128
constexpr u128 kMul = (static_cast<u128>(2549297995355413924ULL) << 64) | 4865540595714422341ULL;

inline uint64_t output(u128 state) {
  const uint64_t hi = static_cast<uint64_t>(state >> 64), lo = static_cast<uint64_t>(state);
  const unsigned rot = static_cast<unsigned>(state >> 122);
  const uint64_t x = hi ^ lo;
  return (x >> rot) | (x << ((64u - rot) & 63u));
}

// (two roundings, as NumPy's two passes: CMakeLists.txt compiles this file with -ffp-contract=off)
template <class T>
inline T value(uint64_t x, double low, double span) {
  const double t = static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0) * span;
  return static_cast<T>(t + low);
}

// kStreams interleaved sub-streams over out[0, n): sub-stream q takes a contiguous stretch, from
// its own jumped state (the multiplies of one stream wait on each other; of several, they overlap).
template <class T>
void fill(Pcg64State s, int64_t n, double low, double span, T* out) {
  constexpr int kStreams = 4;
  const int64_t len = n / kStreams;
  u128 st[kStreams];
  for (int q = 0; q < kStreams; ++q) st[q] = pcg64_advance(s, static_cast<uint64_t>(q * len)).state;
  const u128 inc = s.inc;
  for (int64_t i = 0; i < len; ++i) {
#pragma GCC unroll 4
    for (int q = 0; q < kStreams; ++q) {
      st[q] = st[q] * kMul + inc;
      out[q * len + i] = value<T>(output(st[q]), low, span);
    }
  }
  u128 rest = pcg64_advance(s, static_cast<uint64_t>(kStreams * len)).state;
  for (int64_t i = kStreams * len; i < n; ++i) {
    rest = rest * kMul + inc;
    out[i] = value<T>(output(rest), low, span);
  }
}

}  // namespace

Pcg64State pcg64_advance(Pcg64State s, uint64_t delta) {
  u128 acc_mul = 1, acc_add = 0, cur_mul = kMul, cur_add = s.inc;
  while (delta > 0) {
    if (delta & 1) {
      acc_mul *= cur_mul;
      acc_add = acc_add * cur_mul + cur_add;
    }
    cur_add = (cur_mul + 1) * cur_add;
    cur_mul *= cur_mul;
    delta >>= 1;
  }
  return Pcg64State{acc_mul * s.state + acc_add, s.inc};
}

template <class T>
void pcg64_uniform(Pcg64State* s, int64_t n, double low, double span, T* out) {
  if (n <= 0) return;
  // NOTE: measured (256 x 784 float32, 2 threads): 0.17 ms in a loop (0.24 right after an RBM epoch)
  // against 0.57 (0.66) for NumPy's rng.random and the arithmetic passes.
  constexpr int64_t kPerThread = 1 << 16;
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(max_threads(), n / kPerThread)));
  const Pcg64State start = *s;
  run_parts(parts, [&](int t) {
    const int64_t i0 = n * t / parts, i1 = n * (t + 1) / parts;
    fill(pcg64_advance(start, static_cast<uint64_t>(i0)), i1 - i0, low, span, out + i0);
  });
  *s = pcg64_advance(start, static_cast<uint64_t>(n));
}

template void pcg64_uniform<float>(Pcg64State*, int64_t, double, double, float*);
template void pcg64_uniform<double>(Pcg64State*, int64_t, double, double, double*);

}  // namespace pk::cpu
