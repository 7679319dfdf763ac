// Vanilla tanh RNN over a whole sequence on the GPU (device pointers); the math (including what
// truncated BPTT keeps) is stated in pykernels/reference/rnn.py, the CPU twin is csrc/rnn.h.
// Arrays are row-major and contiguous: x (steps, n, in), h0 (n, hidden), w_ih (hidden, in),
// w_hh (hidden, hidden), b (hidden), hs / dhs (steps, n, hidden).  steps >= 1.
#pragma once
#include <cstdint>

#include "common.cuh"

namespace pk::cuda {

// The input projection of all steps as one GEMM, then per step one GEMM and a fused bias + tanh.
template <class T>
void rnn_forward(const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b, T* hs, int64_t steps,
                 int64_t n, int64_t in, int64_t hidden);

// truncate < 0: exact BPTT; otherwise each injected error flows back `truncate` steps at most.
template <class T>
void rnn_backward(const T* dhs, const T* x, const T* hs, const T* h0, const T* w_ih, const T* w_hh,
                  int64_t truncate, T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db, int64_t steps, int64_t n, int64_t in,
                  int64_t hidden);

}  // namespace pk::cuda
