// AMX tile basics shared by the *_amx.cpp files (the RBM's tile kernels, the float32 GEMM on tiles):
// stubs for a compiler without AMX support, the one tile configuration they all use and the bf16
// split step.  Include only from *_amx.cpp files (AVX-512, AVX512-BF16 and AMX enabled); internal
// linkage.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#ifdef PK_NO_AMX
// A compiler without AMX support: the files' availability checks say false and the tile code is
// never entered.
#undef _tile_zero
#define _tile_zero(t) __builtin_trap()
#undef _tile_loadd
#define _tile_loadd(t, p, s) __builtin_trap()
#undef _tile_dpbf16ps
#define _tile_dpbf16ps(c, a, b) __builtin_trap()
#undef _tile_stored
#define _tile_stored(t, p, s) __builtin_trap()
#undef _tile_loadconfig
#define _tile_loadconfig(p) __builtin_trap()
#undef _tile_release
#define _tile_release() __builtin_trap()
#endif

namespace pk::cpu {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// Tiles 0 .. 7 as 16 rows of 64 bytes (every tile of these kernels: A and B blocks of 16 x 32
// bf16, C blocks of 16 x 16 fp32).
inline void configure_tiles() {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof(cfg));
  cfg.palette = 1;
  for (int i = 0; i < 8; ++i) {
    cfg.rows[i] = 16;
    cfg.colsb[i] = 64;
  }
  _tile_loadconfig(&cfg);
}

// 32 floats (x0's 16 first) rounded to bf16 to nearest even by vcvtne2ps2bf16 (returned), and x0,
// x1 replaced by what the rounding left (x - bf16(x), exact in float).
inline __m512i bf16_part(__m512* x0, __m512* x1) {
  const __m512i h = (__m512i)_mm512_cvtne2ps_pbh(*x1, *x0);
  // back to float: each bf16 in the high half of a word
  *x0 = _mm512_sub_ps(*x0, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16)));
  *x1 = _mm512_sub_ps(*x1, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16)));
  return h;
}

}  // namespace
}  // namespace pk::cpu
