#include <cstdint>

#define PK_ISA_NS avx512
#include "activation_kernels.inc"
