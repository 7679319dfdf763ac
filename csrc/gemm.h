// GEMM on the CPU; the math is stated in pykernels/reference/gemm.py.
#pragma once
#include <cstdint>

namespace pk::cpu {

// How large float32 products are formed: kAmx, on AMX-BF16 tiles with each operand split into three
// bf16 parts (as accurate as float32 FMAs, see gemm_amx.cpp), or kFma, the AVX-512 / AVX2 / portable
// FMA kernels. Products below 2^25 multiply-adds or with m, n or k under 128, float64 and inputs
// outside the tiles' range always take the FMA kernels.
enum class SgemmPath : int { kFma = 0, kAmx = 1 };
// kAmx where the CPU has AMX-BF16 and AVX512-BF16, AVX-512 is in use and PYKERNELS_SGEMM is not
// "fma", else kFma.
SgemmPath sgemm_path();
// Returns false (and changes nothing) when the CPU cannot take `path`.
bool set_sgemm_path(SgemmPath path);

// C (m x n, row stride ldc) = alpha * op(A) @ op(B) + beta * C, all row-major with unit column stride.
// op(A) is A (m x k, row stride lda) or, with trans_a, A^T where A is stored k x m.
// op(B) is B (k x n, row stride ldb) or, with trans_b, B^T where B is stored n x k.
// beta == 0: C is written without being read (NaN in C does not propagate), as in BLAS.
// Splits the work over OpenMP threads unless already inside a parallel region.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

extern template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                                 const float*, int64_t, float, float*, int64_t);
extern template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                  const double*, int64_t, double, double*, int64_t);

}  // namespace pk::cpu
