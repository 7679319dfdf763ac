// GEMM on a CUDA device (or the cuda-sim emulator); the math is stated in pykernels/reference/gemm.py.
#pragma once
#include <cstdint>

namespace pk::cuda {

// The contract of pk::cpu::gemm (csrc/gemm.h), on device pointers:
// C (m x n, row stride ldc) = alpha * op(A) @ op(B) + beta * C, all row-major with unit column stride.
// op(A) is A (m x k, row stride lda) or, with trans_a, A^T where A is stored k x m.
// op(B) is B (k x n, row stride ldb) or, with trans_b, B^T where B is stored n x k.
// beta == 0: C is written without being read (NaN in C does not propagate), as in BLAS.
// Asynchronous on the default stream; a launch failure throws std::runtime_error.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

extern template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                 const float*, int64_t, float, float*, int64_t);
extern template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                  const double*, int64_t, double, double*, int64_t);

}  // namespace pk::cuda
