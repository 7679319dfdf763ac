// NumPy's PCG64 bit generator (PCG XSL RR 128/64, numpy.random.PCG64) for the layers' seeded
// initialisation: the same doubles as Generator.random, drawn by several interleaved sub-streams
// (each started by the generator's jump-ahead) and threads.
#pragma once
#include <cstdint>

namespace pk::cpu {

struct Pcg64State {
  unsigned __int128 state, inc;
};

// The state after `delta` steps (the LCG's jump-ahead, O(log delta)).
Pcg64State pcg64_advance(Pcg64State s, uint64_t delta);

// out[i] = T(fl(fl(u_i * span) + low)) for the next n doubles u_i of the generator (as
// `rng.random(n) * span + low` in float64, then cast to T, rounding to nearest), and s advanced by
// n steps. T is float or double.
template <class T>
void pcg64_uniform(Pcg64State* s, int64_t n, double low, double span, T* out);

}  // namespace pk::cpu
