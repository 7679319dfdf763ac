#include <cstdint>

#define PK_ISA_NS avx2
#include "activation_kernels.inc"
