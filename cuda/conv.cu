#include "conv.cuh"

#include <algorithm>

#include "gemm.cuh"
#include "grid.cuh"

namespace pk::cuda {

namespace {

// Entries of each workspace (patch matrix, GEMM output) for one group of images: the batch is
// processed in groups of consecutive images so that memory stays bounded for any N.
constexpr int64_t kWorkspace = int64_t{1} << 24;

int64_t images_per_group(const Window& g, int64_t c_out) {
  const int64_t per_image = std::max<int64_t>({g.patch() * g.out_plane(), c_out * g.out_plane(), 1});
  return std::max<int64_t>(1, std::min(g.n, kWorkspace / per_image));
}

// One thread per output element (grid-stride): y[image, o, q] = out[o, image*pix + q] + b[o], i.e.
// the (C_out, images*OH*OW) GEMM result regrouped per image, with the bias added.
template <class T>
__global__ void scatter_images_kernel(const T* out, const T* b, T* y, int64_t images, int64_t c_out, int64_t pix) {
  const int64_t total = images * c_out * pix;
  PK_GRID_STRIDE_LOOP(e, total) {
    const int64_t q = e % pix, o = (e / pix) % c_out, image = e / (pix * c_out);
    y[e] = out[o * images * pix + image * pix + q] + (b != nullptr ? b[o] : T(0));
  }
}

// One thread per gathered element (grid-stride): dys[o, image*pix + q] = dy[image, o, q], the
// inverse regrouping, so that one GEMM covers the whole group.
template <class T>
__global__ void gather_images_kernel(const T* dy, T* dys, int64_t images, int64_t c_out, int64_t pix) {
  const int64_t width = images * pix, total = c_out * width;
  PK_GRID_STRIDE_LOOP(e, total) {
    const int64_t col = e % width, o = e / width;
    dys[e] = dy[((col / pix) * c_out + o) * pix + col % pix];
  }
}

// One block per output channel o: db[o] = sum of dy[:, o, :, :].  Thread t sums entries t, t + kBlock,
// ... in order (in double), then a fixed tree adds the partial sums: the result is deterministic.
template <class T>
__global__ void bias_grad_kernel(const T* dy, T* db, int64_t n, int64_t c_out, int64_t pix) {
  __shared__ double partial[kBlock];
  const int64_t o = blockIdx.x, count = n * pix;
  double s = 0.0;
  for (int64_t e = threadIdx.x; e < count; e += kBlock) s += static_cast<double>(dy[((e / pix) * c_out + o) * pix + e % pix]);
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int half = kBlock / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) db[o] = static_cast<T>(partial[0]);
}

}  // namespace

template <class T>
void conv2d(const T* x, const T* w, const T* b, T* y, const Window& g, int64_t c_out) {
  const int64_t patch = g.patch(), pix = g.out_plane();
  const int64_t group = images_per_group(g, c_out);
  DeviceBuffer<T> col(patch * group * pix), out(c_out * group * pix);
  for (int64_t n0 = 0; n0 < g.n; n0 += group) {
    const int64_t images = std::min(group, g.n - n0), width = images * pix;
    im2col_images(x + n0 * g.image(), col.get(), g, images, PatchLayout::kPatchMajor);
    // out (C_out, images*pix) = w (C_out, patch) @ col (patch, images*pix)
    gemm<T>(false, false, c_out, width, patch, T(1), w, patch, col.get(), width, T(0), out.get(), width);
    launch(scatter_images_kernel<T>, grid_1d(c_out * width), dim3(kBlock), out.get(), b, y + n0 * c_out * pix,
           images, c_out, pix);
  }
}

template <class T>
void conv2d_backward(const T* dy, const T* x, const T* w, T* dx, T* dw, T* db, const Window& g, int64_t c_out) {
  const int64_t patch = g.patch(), pix = g.out_plane();
  launch(bias_grad_kernel<T>, dim3(static_cast<unsigned>(c_out)), dim3(kBlock), dy, db, g.n, c_out, pix);
  if (g.n == 0) {
    if (c_out * patch > 0) PK_CUDA_CHECK(cudaMemset(dw, 0, sizeof(T) * static_cast<size_t>(c_out * patch)));
    return;
  }
  const int64_t group = images_per_group(g, c_out);
  // col holds the patches of a group, then (reused) their gradient.
  DeviceBuffer<T> col(patch * group * pix), dys(c_out * group * pix);
  for (int64_t n0 = 0; n0 < g.n; n0 += group) {
    const int64_t images = std::min(group, g.n - n0), width = images * pix;
    launch(gather_images_kernel<T>, grid_1d(c_out * width), dim3(kBlock), dy + n0 * c_out * pix, dys.get(), images,
           c_out, pix);
    im2col_images(x + n0 * g.image(), col.get(), g, images, PatchLayout::kPatchMajor);
    // dw (+)= dys (C_out, width) @ col^T (width, patch); groups are added in order (deterministic).
    gemm<T>(false, true, c_out, patch, width, T(1), dys.get(), width, col.get(), width, n0 == 0 ? T(0) : T(1), dw,
            patch);
    // dcol (patch, width) = w^T (patch, C_out) @ dys (C_out, width), gathered back into dx.
    gemm<T>(true, false, patch, width, c_out, T(1), w, patch, dys.get(), width, T(0), col.get(), width);
    col2im_images(col.get(), dx + n0 * g.image(), g, images, PatchLayout::kPatchMajor);
  }
}

#define PK_INSTANTIATE(T)                                                                           \
  template void conv2d<T>(const T*, const T*, const T*, T*, const Window&, int64_t);               \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, const Window&, int64_t);
PK_INSTANTIATE(float)
PK_INSTANTIATE(double)
#undef PK_INSTANTIATE

}  // namespace pk::cuda
