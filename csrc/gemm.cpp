#include "gemm.h"

#include <vector>

#include "common/parallel.h"

namespace pk::cpu {

// Portable implementation: op(B) is packed row-major once, then every row of C is an axpy sweep.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  std::vector<T> packed;
  const T* bp = b;
  int64_t ldbp = ldb;
  if (trans_b && k > 0) {
    packed.resize(static_cast<size_t>(k) * static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) packed[p * n + j] = b[j * ldb + p];
    bp = packed.data();
    ldbp = n;
  }
  parallel_for(m, 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* ci = c + i * ldc;
      if (beta == T(0)) {
        for (int64_t j = 0; j < n; ++j) ci[j] = T(0);
      } else if (beta != T(1)) {
        for (int64_t j = 0; j < n; ++j) ci[j] *= beta;
      }
      for (int64_t p = 0; p < k; ++p) {
        const T av = alpha * (trans_a ? a[p * lda + i] : a[i * lda + p]);
        const T* bj = bp + p * ldbp;
        for (int64_t j = 0; j < n; ++j) ci[j] += av * bj[j];
      }
    }
  });
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace pk::cpu
