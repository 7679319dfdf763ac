// Counter-based Philox4x32-10 random stream, shared by the C++ kernels, the CUDA kernels and the
// CUDA emulation (one header, so every backend draws the same numbers).  The stream and its mapping
// to array elements are defined in pykernels/random.py; in short:
//   key     = (seed & 0xffffffff, seed >> 32)                        seed: 64-bit
//   element i (row-major) of a draw uses block counter
//           (i / 4 low 32 bits, i / 4 high 32 bits, counter low 32 bits, counter high 32 bits)
//           and takes output word i % 4
//   u       = (word >> 8) * 2^-24, exactly representable in float32, in [0, 1)
//   a binary unit with probability p is on exactly when u < p (compared in p's type).
// The round function follows Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC11),
// and is checked against the Random123 known-answer vectors in tests/test_random.py.
#pragma once
#include <cstdint>

#ifndef PK_HOST_DEVICE
#if defined(__CUDACC__)
#define PK_HOST_DEVICE __host__ __device__
#else
#define PK_HOST_DEVICE
#endif
#endif

namespace pk {

struct PhiloxBlock {
  uint32_t w[4];
};

namespace philox_detail {
constexpr uint32_t kMul0 = 0xD2511F53u;
constexpr uint32_t kMul1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1
}  // namespace philox_detail

// The raw bijection: 10 rounds of Philox4x32 on counter (c0, c1, c2, c3) under key (k0, k1).
PK_HOST_DEVICE inline PhiloxBlock philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                                                uint32_t k1) {
  using namespace philox_detail;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kWeyl0;
      k1 += kWeyl1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

// One (seed, counter) stream: block b holds the words of elements 4b .. 4b+3.
struct PhiloxStream {
  uint32_t k0, k1, c2, c3;

  PK_HOST_DEVICE PhiloxStream(uint64_t seed, uint64_t counter)
      : k0(static_cast<uint32_t>(seed)),
        k1(static_cast<uint32_t>(seed >> 32)),
        c2(static_cast<uint32_t>(counter)),
        c3(static_cast<uint32_t>(counter >> 32)) {}

  PK_HOST_DEVICE PhiloxBlock block(uint64_t b) const {
    return philox4x32_10(static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32), c2, c3, k0, k1);
  }

  // The uniform of element i alone (kernels drawing consecutive elements should reuse block()).
  PK_HOST_DEVICE float uniform(uint64_t i) const;
};

// u = (word >> 8) * 2^-24: the top 24 bits, exact in float (and hence in double).
PK_HOST_DEVICE inline float philox_unit(uint32_t word) {
  return static_cast<float>(word >> 8) * 5.9604644775390625e-08f;  // 2^-24
}

PK_HOST_DEVICE inline float PhiloxStream::uniform(uint64_t i) const { return philox_unit(block(i >> 2).w[i & 3]); }

}  // namespace pk
