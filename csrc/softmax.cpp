#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common/cpu_features.h"
#include "common/parallel.h"
#include "softmax_isa.h"

namespace pk::cpu {

namespace {

// Row maximum; NaN anywhere in the row makes the result NaN (as NumPy's max does).
template <class T>
T row_max(const T* x, int64_t k) {
  if constexpr (std::is_same_v<T, float>) {
    if (active_isa() == Isa::kAvx512) return softmax_avx512::row_max(x, k);
  }
  T mx = -std::numeric_limits<T>::infinity();
  bool nan = false;
  for (int64_t j = 0; j < k; ++j) {
    nan |= (x[j] != x[j]);
    mx = std::max(mx, x[j]);
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : mx;
}

// Writes e_j = exp(x_j - max) into y and returns (max, sum_j e_j) with the sum accumulated in double.
template <class T>
double exp_shifted(const T* x, T* y, int64_t k, T* mx_out) {
  const T mx = row_max(x, k);
  // NOTE: a row of -inf only has max -inf; shifting by it gives NaN, as NumPy/torch do.
  if constexpr (std::is_same_v<T, float>) {
    if (active_isa() == Isa::kAvx512) {
      *mx_out = mx;
      return softmax_avx512::exp_shifted(x, y, k, mx);
    }
  }
  double s = 0.0;
  for (int64_t j = 0; j < k; ++j) {
    const T e = std::exp(x[j] - mx);
    y[j] = e;
    s += static_cast<double>(e);
  }
  *mx_out = mx;
  return s;
}

int64_t row_grain(int64_t k) { return std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(k, 1)); }

}  // namespace

template <class T>
void softmax(const T* x, T* y, int64_t n, int64_t k) {
  parallel_for(n, row_grain(k), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T mx;
      const double s = exp_shifted(x + r * k, y + r * k, k, &mx);
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = 0; j < k; ++j) y[r * k + j] *= inv;
    }
  });
}

template <class T>
void log_softmax(const T* x, T* y, int64_t n, int64_t k) {
  parallel_for(n, row_grain(k), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T mx;
      const double s = exp_shifted(x + r * k, y + r * k, k, &mx);
      const T lse = static_cast<T>(std::log(s));
      for (int64_t j = 0; j < k; ++j) y[r * k + j] = (x[r * k + j] - mx) - lse;
    }
  });
}

template <class T>
void softmax_cross_entropy(const T* logits, const int64_t* labels, const T* soft_target, T* loss, T* probs,
                           int64_t n, int64_t k) {
  parallel_for(n, row_grain(k), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x = logits + r * k;
      T* p = probs + r * k;
      T mx;
      const double s = exp_shifted(x, p, k, &mx);
      const double lse = std::log(s);
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = 0; j < k; ++j) p[j] *= inv;
      // log p_j = (x_j - max) - lse, computed from the logits so that tiny p_j never hit log(0).
      double l = 0.0;
      if (soft_target == nullptr) {
        l = lse - static_cast<double>(x[labels[r]] - mx);
      } else {
        const T* t = soft_target + r * k;
        for (int64_t j = 0; j < k; ++j) {
          if (t[j] != T(0)) l -= static_cast<double>(t[j]) * (static_cast<double>(x[j] - mx) - lse);
        }
      }
      loss[r] = static_cast<T>(l);
    }
  });
}

template <class T>
void softmax_cross_entropy_backward(const T* probs, const int64_t* labels, const T* soft_target,
                                    const T* scale, bool per_row, T* dlogits, int64_t n, int64_t k) {
  parallel_for(n, row_grain(k), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T sc = per_row ? scale[r] : scale[0];
      const T* p = probs + r * k;
      T* d = dlogits + r * k;
      if (soft_target == nullptr) {
        for (int64_t j = 0; j < k; ++j) d[j] = p[j] * sc;
        d[labels[r]] = (p[labels[r]] - T(1)) * sc;
      } else {
        const T* t = soft_target + r * k;
        for (int64_t j = 0; j < k; ++j) d[j] = (p[j] - t[j]) * sc;
      }
    }
  });
}

#define PK_INSTANTIATE(T)                                                                                  \
  template void softmax<T>(const T*, T*, int64_t, int64_t);                                                \
  template void log_softmax<T>(const T*, T*, int64_t, int64_t);                                            \
  template void softmax_cross_entropy<T>(const T*, const int64_t*, const T*, T*, T*, int64_t, int64_t);    \
  template void softmax_cross_entropy_backward<T>(const T*, const int64_t*, const T*, const T*, bool, T*, \
                                                  int64_t, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cpu
