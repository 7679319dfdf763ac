// The window geometry handed over by the conv and pool bindings (cuda/bind/conv.cpp, pool.cpp).
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "bind/bind.h"
#include "im2col.cuh"

namespace pk::cuda::bind {

// (N, C, H, W, KH, KW, sh, sw, ph, pw)
using Geometry = std::array<int64_t, 10>;

// The Window of a geometry the Python layer has validated; checked again here so that a direct call
// cannot start a kernel on an impossible window.  Pooling also needs 2*ph <= KH and 2*pw <= KW.
inline Window window_of(const Geometry& a, const char* op, bool pool = false) {
  const auto [n, c, h, w, kh, kw, sh, sw, ph, pw] = a;
  const bool ok = n >= 0 && c >= 0 && h >= 0 && w >= 0 && kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1 && ph >= 0 &&
                  pw >= 0 && kh <= h + 2 * ph && kw <= w + 2 * pw &&
                  (!pool || (2 * ph <= kh && 2 * pw <= kw));
  if (!ok) throw py::value_error(std::string(op) + ": invalid window geometry (N, C, H, W, KH, KW, sh, sw, ph, pw)");
  return Window{n, c, h, w, kh, kw, sh, sw, ph, pw, (h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1};
}

}  // namespace pk::cuda::bind
