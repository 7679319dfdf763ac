// Internal to the CPU GEMM: the call arguments and one entry point per instruction set.
// pk::cpu::gemm (gemm.cpp) picks the entry point from active_isa(); each *_avx512 / *_avx2 file is
// compiled for that ISA alone and runs the blocked algorithm of gemm_blocked.h with its vectors.
#pragma once
#include <cstdint>

namespace pk::cpu {

// The arguments of pk::cpu::gemm (see gemm.h), m > 0 and n > 0.
template <class T>
struct GemmArgs {
  bool trans_a, trans_b;
  int64_t m, n, k;
  T alpha;
  const T* a;
  int64_t lda;
  const T* b;
  int64_t ldb;
  T beta;
  T* c;
  int64_t ldc;
};

void gemm_generic(const GemmArgs<float>& g);
void gemm_generic(const GemmArgs<double>& g);
void gemm_avx2(const GemmArgs<float>& g);
void gemm_avx2(const GemmArgs<double>& g);
void gemm_avx512(const GemmArgs<float>& g);
void gemm_avx512(const GemmArgs<double>& g);

// gemm_amx.cpp: whether the CPU has AMX-BF16 and AVX512-BF16 and the OS granted the tile state;
// the float32 GEMM on tiles (false, C untouched, when an input is out of its range).
bool gemm_amx_available();
bool gemm_amx(const GemmArgs<float>& g, int threads);

}  // namespace pk::cpu
