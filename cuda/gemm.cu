// Tiled shared-memory GEMM with register blocking.
#include "gemm.cuh"

#include "common.cuh"

namespace pk::cuda {

namespace {

// Block tile kBM x kBN of C, walked over K in slices of kBK; each of the kThreads threads holds a
// kTM x kTN register tile. Its rows are ty + i*kRowThreads and its columns tx + j*kColThreads
// (strided, not contiguous), so that the lanes of a warp read consecutive shared-memory words of
// the B slice (no bank conflicts) and broadcast one word of the A slice.
constexpr int kBM = 64, kBN = 64, kBK = 16;
constexpr int kTM = 8, kTN = 8;
constexpr int kRowThreads = kBM / kTM, kColThreads = kBN / kTN;
constexpr int kThreads = kRowThreads * kColThreads;  // 64
static_assert(kBM * kBK % kThreads == 0 && kBK * kBN % kThreads == 0, "tile loads split evenly");

// Thread mapping: block (bx, by) computes C[by*kBM : +kBM, bx*kBN : +kBN]; thread t = threadIdx.x
// owns rows ty + i*kRowThreads and columns tx + j*kColThreads of it (ty = t / kColThreads, tx = t % kColThreads).
template <class T, bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads)
gemm_tiled(int64_t m, int64_t n, int64_t k, T alpha, const T* __restrict__ a, int64_t lda,
           const T* __restrict__ b, int64_t ldb, T beta, T* __restrict__ c, int64_t ldc) {
  // Both slices are stored K-major: as[p][i] = op(A)(row0 + i, k0 + p), bs[p][j] = op(B)(k0 + p, col0 + j).
  __shared__ T as[kBK][kBM];
  __shared__ T bs[kBK][kBN];

  const int t = static_cast<int>(threadIdx.x);
  const int tx = t % kColThreads, ty = t / kColThreads;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * kBM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * kBN;

  T acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = T(0);

  for (int64_t k0 = 0; k0 < k; k0 += kBK) {
    // Load the slices; consecutive threads read consecutive addresses of the stored matrix
    // (coalesced), whichever way it is transposed. Outside the matrix: zeros.
    // NOTE: fully unrolled, these loads (64-bit addresses) took the kernel to 255 registers with
    // spills (ptxas -v, sm_90); unrolled by 4: 99 registers for float, 168 for double, no spills.
#pragma unroll 4
    for (int r = 0; r < kBM * kBK / kThreads; ++r) {
      const int e = t + r * kThreads;
      int i, p;
      if (kTransA) {  // A stored k x m: contiguous along i
        p = e / kBM;
        i = e % kBM;
      } else {  // A stored m x k: contiguous along p
        i = e / kBK;
        p = e % kBK;
      }
      const int64_t gi = row0 + i, gp = k0 + p;
      T v = T(0);
      if (gi < m && gp < k) v = kTransA ? a[gp * lda + gi] : a[gi * lda + gp];
      as[p][i] = v;
    }
#pragma unroll 4
    for (int r = 0; r < kBK * kBN / kThreads; ++r) {
      const int e = t + r * kThreads;
      int j, p;
      if (kTransB) {  // B stored n x k: contiguous along p
        j = e / kBK;
        p = e % kBK;
      } else {  // B stored k x n: contiguous along j
        p = e / kBN;
        j = e % kBN;
      }
      const int64_t gj = col0 + j, gp = k0 + p;
      T v = T(0);
      if (gj < n && gp < k) v = kTransB ? b[gj * ldb + gp] : b[gp * ldb + gj];
      bs[p][j] = v;
    }
    __syncthreads();  // the slices are complete before anyone reads them

#pragma unroll
    for (int p = 0; p < kBK; ++p) {
      T af[kTM], bf[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) af[i] = as[p][ty + i * kRowThreads];
#pragma unroll
      for (int j = 0; j < kTN; ++j) bf[j] = bs[p][tx + j * kColThreads];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] += af[i] * bf[j];
    }
    __syncthreads();  // everyone is done reading before the next slice overwrites them
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const int64_t gi = row0 + ty + i * kRowThreads;
    if (gi >= m) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int64_t gj = col0 + tx + j * kColThreads;
      if (gj >= n) continue;
      T* out = c + gi * ldc + gj;
      // beta == 0 never reads C (BLAS): NaN or garbage there does not propagate.
      *out = beta == T(0) ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *out;
    }
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const dim3 grid(static_cast<unsigned>(ceil_div(n, kBN)), static_cast<unsigned>(ceil_div(m, kBM)));
  const dim3 block(kThreads);
  if (trans_a) {
    if (trans_b) launch(gemm_tiled<T, true, true>, grid, block, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else launch(gemm_tiled<T, true, false>, grid, block, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    if (trans_b) launch(gemm_tiled<T, false, true>, grid, block, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else launch(gemm_tiled<T, false, false>, grid, block, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace pk::cuda
