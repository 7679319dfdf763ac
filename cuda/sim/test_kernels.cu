// Test-only kernels of the emulator, compiled into pykernels._cudasim alone (tests/test_cuda_sim.py):
// they show that barriers really interleave the threads of a block, that warp intrinsics and atomics
// behave as on a GPU, and that bad launches fail the way the CUDA runtime does.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <vector>

#include "bind/bind.h"
#include "common.cuh"

namespace pk::cuda::bind {

namespace {

constexpr int kMaxBlock = 1024;

// Thread mapping: one block of n <= 1024 threads; thread t writes element t of the block's slice and
// reads back element n - 1 - t, written by another thread. Correct only with the barrier.
template <bool kBarrier>
__global__ void reverse_through_shared(const float* in, float* out, int n) {
  __shared__ float s[kMaxBlock];
  const int t = static_cast<int>(threadIdx.x);
  const int64_t base = static_cast<int64_t>(blockIdx.x) * n;
  s[t] = in[base + t];
  if (kBarrier) __syncthreads();
  out[base + t] = s[n - 1 - t];
}

// Thread mapping: one thread per element, any block size; lane l of each warp records the results of
// the warp intrinsics for its value v = in[i].
__global__ void warp_ops(const float* in, float* xor1, float* down3, float* bcast5, unsigned* ballot, int* any_all,
                         int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const float v = i < n ? in[i] : 0.0f;
  const float a = __shfl_xor_sync(0xffffffffu, v, 1);
  const float b = __shfl_down_sync(0xffffffffu, v, 3);
  const float c = __shfl_sync(0xffffffffu, v, 5);
  const unsigned bal = __ballot_sync(0xffffffffu, v > 0.0f);
  const int any = __any_sync(0xffffffffu, v > 2.0f);
  const int all = __all_sync(0xffffffffu, v > -3.0f);
  if (i < n) {
    xor1[i] = a;
    down3[i] = b;
    bcast5[i] = c;
    ballot[i] = bal;
    any_all[i] = any * 2 + all;
  }
}

// Thread mapping: every thread of every block adds to the same counters.
__global__ void atomic_sum(int* count, float* total, int* maximum) {
  const int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(count, 1);
  atomicAdd(total, static_cast<float>(t % 7));
  atomicMax(maximum, t);
}

// Only the even threads reach the barrier: undefined on a GPU (a hang or garbage); an error here.
__global__ void divergent_barrier(int* out) {
  if (threadIdx.x % 2 == 0) __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void noop(int*) {}

}  // namespace

void bind_sim_tests(py::module_& m) {
  m.def(
      "_test_reverse_shared",
      [](py::array_t<float, py::array::c_style> in, int n, bool barrier) {
        if (n < 1 || n > kMaxBlock || in.size() % n) throw py::value_error("n must divide the input, 1..1024");
        py::array_t<float> out(in.size());
        const int blocks = static_cast<int>(in.size() / n);
        const float* ip = in.data();
        float* op = out.mutable_data();
        py::gil_scoped_release release;
        if (barrier) launch(reverse_through_shared<true>, dim3(blocks), dim3(n), ip, op, n);
        else launch(reverse_through_shared<false>, dim3(blocks), dim3(n), ip, op, n);
        return out;
      },
      py::arg("x"), py::arg("n"), py::arg("barrier"));
  m.def(
      "_test_warp_ops",
      [](py::array_t<float, py::array::c_style> in, int block) {
        const int64_t n = in.size();
        py::array_t<float> xor1(n), down3(n), bcast5(n);
        py::array_t<unsigned> ballot(n);
        py::array_t<int> any_all(n);
        launch(warp_ops, dim3(static_cast<unsigned>(ceil_div(n, block))), dim3(block), in.data(),
               xor1.mutable_data(), down3.mutable_data(), bcast5.mutable_data(), ballot.mutable_data(),
               any_all.mutable_data(), n);
        return py::make_tuple(xor1, down3, bcast5, ballot, any_all);
      },
      py::arg("x"), py::arg("block"));
  m.def(
      "_test_atomics",
      [](int blocks, int threads) {
        int count = 0, maximum = -1;
        float total = 0.0f;
        {
          py::gil_scoped_release release;
          launch(atomic_sum, dim3(blocks), dim3(threads), &count, &total, &maximum);
        }
        return py::make_tuple(count, total, maximum);
      },
      py::arg("blocks"), py::arg("threads"));
  m.def(
      "_test_divergent_barrier",
      [](int threads) {
        std::vector<int> out(threads);
        launch(divergent_barrier, dim3(1), dim3(threads), out.data());
      },
      py::arg("threads"));
  m.def(
      "_test_launch",
      [](std::vector<unsigned> grid, std::vector<unsigned> block) {
        if (grid.size() != 3 || block.size() != 3) throw py::value_error("grid and block are (x, y, z)");
        int dummy = 0;
        launch(noop, dim3(grid[0], grid[1], grid[2]), dim3(block[0], block[1], block[2]), &dummy);
      },
      py::arg("grid"), py::arg("block"));
  m.def("_sim_counters", [] {
    const auto c = pk::sim::counters();
    py::dict d;
    d["launches"] = c.launches;
    d["blocks"] = c.blocks;
    d["switches"] = c.switches;
    d["barriers"] = c.barriers;
    return d;
  });
}

}  // namespace pk::cuda::bind
