#include "conv.h"

#include <algorithm>

#include "common/aligned_buffer.h"
#include "common/parallel.h"
#include "gemm.h"

namespace pk::cpu {

namespace {

// A 1x1 kernel with stride 1 and no padding: an image (C, H*W) is its own patch matrix.
bool patches_are_input(const Window& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
}

// Images whose patch matrices sit side by side in one GEMM: small outputs (OH*OW of 16 or 64)
// alone would make GEMMs too thin to run fast, so each takes up to kGemmColumns columns, as long as
// its patch matrix stays within kPatchBytes (it and its gradient, in the backward pass, within half
// of a 512 KiB L2).
// NOTE: measured on a Zen 3 (512 KiB L2), against 512 columns whatever the patch matrix: the digits
// CNN's second conv backward (16 -> 32, 3x3 on 4x4, N=32: 14 images of 144 x 16 instead of 32) 512
// -> 275 us on one thread; conv 16 -> 32 3x3 on 14x14, N=32, forward + backward (2 images instead
// of 3) 13-16% faster on one thread and on two.
constexpr int64_t kGemmColumns = 512;
constexpr int64_t kPatchBytes = 128 << 10;
int64_t images_per_gemm(const Window& g, int64_t elem_bytes) {
  const int64_t pix = std::max<int64_t>(1, g.out_plane());
  const int64_t wide = (kGemmColumns + pix - 1) / pix;
  const int64_t fit = kPatchBytes / (elem_bytes * std::max<int64_t>(1, g.patch()) * pix);
  return std::max<int64_t>(1, std::min(wide, fit));
}

// n rounded up to whole cache lines of T (so that the threads' slices of a workspace share none).
template <class T>
int64_t whole_lines(int64_t n) {
  constexpr int64_t kPer = 64 / static_cast<int64_t>(sizeof(T));
  return (n + kPer - 1) / kPer * kPer;
}

// The calling thread's workspace for one call, at least `size` elements, reused from call to call
// (uninitialised: every use writes before it reads). Grown here, before any parallel region, where
// std::bad_alloc still reaches the caller; the threads of the call take slices of it.
// NOTE: measured (the digits CNN's second conv backward, N=32 16->32 on 4x4, one thread): 650-730 us
// a call with its 0.3 MB buffers allocated per call, a fifth of it in the kernel's page faults.
template <class T>
T* call_workspace(int64_t size) {
  static thread_local AlignedBuffer<T> buffer;
  return buffer.get(std::max<int64_t>(size, 1));
}

// Sum of n values with eight running partial sums (vectorisable), returned in double.
template <class T>
double plane_sum(const T* v, int64_t n) {
  T acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += v[i + k];
  double s = 0.0;
  for (int k = 0; k < 8; ++k) s += static_cast<double>(acc[k]);
  for (; i < n; ++i) s += static_cast<double>(v[i]);
  return s;
}

}  // namespace

template <class T>
void conv2d(const T* x, const T* w, const T* b, T* y, const Window& g, int64_t c_out) {
  const int64_t patch = g.patch(), pix = g.out_plane();
  const int64_t group = images_per_gemm(g, sizeof(T));
  const bool direct = group == 1 && patches_are_input(g);
  // Split by image into parts of consecutive images, one per thread; gemm, called inside the
  // parallel region, then runs on the calling thread.
  if (g.n <= 0) return;
  const int64_t parts = omp_in_parallel() ? 1 : std::min<int64_t>(g.n, max_threads());
  // each part's slice of the workspace: its patch matrices and its GEMM's output
  const int64_t most = std::min(group, (g.n + parts - 1) / parts);
  const int64_t col_size = whole_lines<T>(direct ? 0 : patch * most * pix);
  const int64_t slice = col_size + whole_lines<T>(most > 1 ? c_out * most * pix : 0);
  T* work = call_workspace<T>(slice * parts);
  run_parts(static_cast<int>(parts), [&](int t) {
    const int64_t n0 = g.n * t / parts, n1 = g.n * (t + 1) / parts;
    if (n0 >= n1) return;
    // this part's workspaces, reused for all its images
    const int64_t cap = std::min(group, n1 - n0);
    T* col = work + slice * t;
    T* out = col + col_size;
    for (int64_t n = n0; n < n1; n += cap) {
      const int64_t images = std::min(cap, n1 - n), cols = images * pix;
      for (int64_t k = 0; k < images && !direct; ++k) {
        im2col_image(x + (n + k) * g.c * g.plane(), col + k * pix, g, cols, 1, 0, g.c);
      }
      const T* patches = direct ? x + n * g.c * g.plane() : col;
      if (images == 1) {
        T* yn = y + n * c_out * pix;
        if (b != nullptr) {
          for (int64_t o = 0; o < c_out; ++o) std::fill(yn + o * pix, yn + (o + 1) * pix, b[o]);
        }
        gemm<T>(false, false, c_out, pix, patch, T(1), w, patch, patches, pix, b != nullptr ? T(1) : T(0), yn, pix);
        continue;
      }
      // (C_out, images*pix) -> images x (C_out, pix), adding the bias on the way.
      gemm<T>(false, false, c_out, cols, patch, T(1), w, patch, patches, cols, T(0), out, cols);
      for (int64_t k = 0; k < images; ++k) {
        for (int64_t o = 0; o < c_out; ++o) {
          const T* src = out + o * cols + k * pix;
          T* dst = y + ((n + k) * c_out + o) * pix;
          const T bias = b != nullptr ? b[o] : T(0);
          for (int64_t q = 0; q < pix; ++q) dst[q] = src[q] + bias;
        }
      }
    }
  });
}

template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, const Window& g, int64_t c_out) {
  const int64_t patch = g.patch(), pix = g.out_plane(), wsize = c_out * patch;
  const int64_t group = images_per_gemm(g, sizeof(T));
  const bool direct = group == 1 && patches_are_input(g);

  // db: one output channel per task, images and pixels in a fixed order.
  parallel_for(c_out, 8, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double s = 0.0;
      for (int64_t n = 0; n < g.n; ++n) s += plane_sum(dy + (n * c_out + o) * pix, pix);
      db[o] = static_cast<T>(s);
    }
  });
  if (g.n == 0) {
    std::fill(dw, dw + wsize, T(0));
    return;
  }

  // The batch is cut into `parts` fixed slices of consecutive images; slice k accumulates its dw
  // into its own buffer (slice 0 straight into dw) and the buffers are added in slice order, so
  // the result is the same on every run with the same thread count.
  const int64_t parts = std::min<int64_t>(g.n, max_threads());
  // the workspace: the slices' dw buffers, then per slice its patch matrices, their gradients, its
  // dy gathered by channel and its dw^T (patch, C_out)
  const int64_t cap = std::min(group, (g.n + parts - 1) / parts);
  const int64_t col_size = whole_lines<T>(direct ? 0 : patch * cap * pix);
  const int64_t dys_size = whole_lines<T>(cap > 1 ? c_out * cap * pix : 0);
  const int64_t partial_size = whole_lines<T>((parts - 1) * wsize);
  const int64_t slice = 2 * col_size + dys_size + whole_lines<T>(wsize);
  T* work = call_workspace<T>(partial_size + slice * parts);
  T* partial = work;
  parallel_for(parts, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      T* col = work + partial_size + slice * k;
      T* dcol = col + col_size;
      T* dys = dcol + col_size;
      T* dwt = dys + dys_size;
      T* dwk = k == 0 ? dw : partial + (k - 1) * wsize;
      const int64_t first = g.n * k / parts, last = g.n * (k + 1) / parts;
      for (int64_t n = first; n < last; n += cap) {
        const int64_t images = std::min(cap, last - n), cols = images * pix;
        T* dxn = dx + n * g.c * g.plane();
        const T* d_out = dy + n * c_out * pix;  // (C_out, cols) for one image
        if (images > 1) {
          for (int64_t i = 0; i < images; ++i)
            for (int64_t o = 0; o < c_out; ++o)
              std::copy(d_out + (i * c_out + o) * pix, d_out + (i * c_out + o + 1) * pix, dys + o * cols + i * pix);
          d_out = dys;
        }
        for (int64_t i = 0; i < images && !direct; ++i) {
          im2col_image(x + (n + i) * g.c * g.plane(), col + i * pix, g, cols, 1, 0, g.c);
        }
        const T* patches = direct ? x + n * g.c * g.plane() : col;
        // dw^T += patches (patch, cols) @ dy^T (cols, C_out): the GEMM transposes dy, not the (larger)
        // patch matrix.
        // NOTE: measured (conv 16->32 3x3 pad 1, 14x14, N=32, forward + backward, perf): dw = dy @
        // patches^T spent 17% of the time packing (transposing the patches into the GEMM's panels);
        // this way 8%, and 7% less time in all.
        gemm<T>(false, true, patch, c_out, cols, T(1), patches, cols, d_out, cols, n == first ? T(0) : T(1), dwt, c_out);
        // dpatches = w^T (patch, C_out) @ dy (C_out, cols), then summed back into dx
        if (direct) {
          gemm<T>(true, false, patch, pix, c_out, T(1), w, patch, d_out, pix, T(0), dxn, pix);
          continue;
        }
        gemm<T>(true, false, patch, cols, c_out, T(1), w, patch, d_out, cols, T(0), dcol, cols);
        std::fill(dxn, dxn + images * g.c * g.plane(), T(0));
        for (int64_t i = 0; i < images; ++i) {
          col2im_image(dcol + i * pix, dxn + i * g.c * g.plane(), g, cols, 1, 0, g.c);
        }
      }
      for (int64_t o = 0; o < c_out; ++o)
        for (int64_t e = 0; e < patch; ++e) dwk[o * patch + e] = dwt[e * c_out + o];
    }
  });
  parallel_for(wsize, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t k = 1; k < parts; ++k) {
      const T* pk = partial + (k - 1) * wsize;
      for (int64_t i = i0; i < i1; ++i) dw[i] += pk[i];
    }
  });
}

#define PK_INSTANTIATE(T)                                                                           \
  template void conv2d<T>(const T*, const T*, const T*, T*, const Window&, int64_t);               \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, const Window&, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cpu
