// Device memory and device queries for the Python layer (pykernels/backends/cuda/runtime.py).
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <chrono>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "bind/bind.h"
#include "common.cuh"
#include "copy.cuh"

namespace pk::cuda::bind {

namespace {

#if PK_CUDA_SIM
// The emulator's device memory is host memory; it remembers its allocations so that the Python layer
// can refuse a foreign pointer (e.g. a real GPU array passed to backend='cuda-sim') instead of
// dereferencing it.
std::mutex g_alloc_mutex;
std::set<std::pair<uintptr_t, uintptr_t>> g_allocs;  // [begin, end)

bool sim_owns(uintptr_t p, uintptr_t bytes) {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  auto it = g_allocs.upper_bound({p, UINTPTR_MAX});
  if (it == g_allocs.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->second;
}
#endif

uintptr_t alloc(uint64_t bytes) {
  void* p = nullptr;
  {
    py::gil_scoped_release release;
    PK_CUDA_CHECK(cudaMalloc(&p, bytes));
  }
#if PK_CUDA_SIM
  if (p) {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    g_allocs.insert({reinterpret_cast<uintptr_t>(p), reinterpret_cast<uintptr_t>(p) + bytes});
  }
#endif
  return reinterpret_cast<uintptr_t>(p);
}

void free_(uintptr_t p) {
  if (!p) return;
#if PK_CUDA_SIM
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    auto it = g_allocs.lower_bound({p, 0});
    if (it == g_allocs.end() || it->first != p) throw py::value_error("free: not a cuda-sim allocation");
    g_allocs.erase(it);
  }
#endif
  py::gil_scoped_release release;
  PK_CUDA_CHECK(cudaFree(reinterpret_cast<void*>(p)));
}

// Host (C-contiguous buffer) -> device.
void memcpy_htod(uintptr_t dst, const py::buffer& src) {
  const py::buffer_info info = src.request();
  if (info.ndim > 0) {
    py::ssize_t expect = info.itemsize;
    for (py::ssize_t i = info.ndim; i-- > 0;) {
      if (info.shape[i] != 1 && info.strides[i] != expect) throw py::value_error("memcpy_htod: source must be C-contiguous");
      expect *= info.shape[i];
    }
  }
  const size_t bytes = static_cast<size_t>(info.size) * static_cast<size_t>(info.itemsize);
  py::gil_scoped_release release;
  PK_CUDA_CHECK(cudaMemcpy(reinterpret_cast<void*>(dst), info.ptr, bytes, cudaMemcpyHostToDevice));
}

// Device -> host (writable C-contiguous array).
void memcpy_dtoh(py::array& dst, uintptr_t src) {
  if (!(dst.flags() & py::array::c_style) || !dst.writeable()) {
    throw py::value_error("memcpy_dtoh: destination must be a writable C-contiguous array");
  }
  const size_t bytes = static_cast<size_t>(dst.nbytes());
  void* d = dst.mutable_data();
  py::gil_scoped_release release;
  PK_CUDA_CHECK(cudaMemcpy(d, reinterpret_cast<const void*>(src), bytes, cudaMemcpyDeviceToHost));
}

void memcpy_dtod(uintptr_t dst, uintptr_t src, uint64_t bytes) {
  py::gil_scoped_release release;
  PK_CUDA_CHECK(cudaMemcpy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes,
                           cudaMemcpyDeviceToDevice));
}

void memset_(uintptr_t p, int value, uint64_t bytes) {
  py::gil_scoped_release release;
  PK_CUDA_CHECK(cudaMemset(reinterpret_cast<void*>(p), value, bytes));
}

void synchronize() {
  py::gil_scoped_release release;
  PK_CUDA_CHECK(cudaDeviceSynchronize());
}

// (count, reason): count of usable devices, or 0 and why not (e.g. the driver is missing).
py::tuple device_count() {
#if PK_CUDA_SIM
  return py::make_tuple(1, "");
#else
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it
    return py::make_tuple(0, std::string(cudaGetErrorString(err)));
  }
  if (count == 0) return py::make_tuple(0, "no CUDA device found");
  return py::make_tuple(count, "");
#endif
}

std::string device_name() {
#if PK_CUDA_SIM
  return "cuda-sim (SIMT emulator on the CPU)";
#else
  int dev = 0;
  PK_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop;
  PK_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
#endif
}

// True when [p, p + bytes) is memory kernels of this module may access (sim: one of its allocations;
// cuda: device or managed memory).
bool is_device_pointer(uintptr_t p, uint64_t bytes) {
#if PK_CUDA_SIM
  return bytes == 0 || sim_owns(p, bytes);
#else
  if (bytes == 0) return true;
  cudaPointerAttributes attr;
  const cudaError_t err = cudaPointerGetAttributes(&attr, reinterpret_cast<const void*>(p));
  if (err != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
#endif
}

int runtime_version() {
#if PK_CUDA_SIM
  return 0;
#else
  int v = 0;
  PK_CUDA_CHECK(cudaRuntimeGetVersion(&v));
  return v;
#endif
}

// Timing events on the default stream (the emulator: host clock readings taken synchronously).
#if PK_CUDA_SIM
struct Event {
  std::chrono::steady_clock::time_point t;
};
uintptr_t event_create() { return reinterpret_cast<uintptr_t>(new Event{}); }
void event_record(uintptr_t e) { reinterpret_cast<Event*>(e)->t = std::chrono::steady_clock::now(); }
void event_synchronize(uintptr_t) {}
double event_elapsed_ms(uintptr_t start, uintptr_t end) {
  return std::chrono::duration<double, std::milli>(reinterpret_cast<Event*>(end)->t - reinterpret_cast<Event*>(start)->t)
      .count();
}
void event_destroy(uintptr_t e) { delete reinterpret_cast<Event*>(e); }
#else
uintptr_t event_create() {
  cudaEvent_t e;
  PK_CUDA_CHECK(cudaEventCreate(&e));
  return reinterpret_cast<uintptr_t>(e);
}
void event_record(uintptr_t e) { PK_CUDA_CHECK(cudaEventRecord(reinterpret_cast<cudaEvent_t>(e), 0)); }
void event_synchronize(uintptr_t e) {
  py::gil_scoped_release release;
  PK_CUDA_CHECK(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(e)));
}
double event_elapsed_ms(uintptr_t start, uintptr_t end) {
  float ms = 0.0f;
  PK_CUDA_CHECK(cudaEventElapsedTime(&ms, reinterpret_cast<cudaEvent_t>(start), reinterpret_cast<cudaEvent_t>(end)));
  return ms;
}
void event_destroy(uintptr_t e) { PK_CUDA_CHECK(cudaEventDestroy(reinterpret_cast<cudaEvent_t>(e))); }
#endif

}  // namespace

void copy_strided_py(uintptr_t src, uintptr_t dst, int itemsize, const std::vector<int64_t>& shape,
                     const std::vector<int64_t>& strides) {
  if (shape.size() != strides.size()) throw py::value_error("copy_strided: shape and strides differ in length");
  if (shape.size() > static_cast<size_t>(pk::cuda::kMaxCopyDims)) {
    throw py::value_error("copy_strided: device arrays of more than 8 dimensions must be C-contiguous");
  }
  if (itemsize != 1 && itemsize != 2 && itemsize != 4 && itemsize != 8) {
    throw py::value_error("copy_strided: element size must be 1, 2, 4 or 8 bytes");
  }
  py::gil_scoped_release release;
  pk::cuda::copy_strided(reinterpret_cast<const void*>(src), reinterpret_cast<void*>(dst), itemsize,
                         static_cast<int>(shape.size()), shape.data(), strides.data());
}

void bind_runtime(py::module_& m) {
  m.def("copy_strided", &copy_strided_py, py::arg("src"), py::arg("dst"), py::arg("itemsize"), py::arg("shape"),
        py::arg("strides"), "gather a strided device array (strides in bytes) into contiguous memory at dst");
  m.def("event_create", &event_create);
  m.def("event_record", &event_record, py::arg("event"));
  m.def("event_synchronize", &event_synchronize, py::arg("event"));
  m.def("event_elapsed_ms", &event_elapsed_ms, py::arg("start"), py::arg("end"));
  m.def("event_destroy", &event_destroy, py::arg("event"));
  m.def("alloc", &alloc, py::arg("nbytes"), "device allocation; returns the pointer (0 for 0 bytes)");
  m.def("free", &free_, py::arg("ptr"));
  m.def("memcpy_htod", &memcpy_htod, py::arg("dst"), py::arg("src"));
  m.def("memcpy_dtoh", &memcpy_dtoh, py::arg("dst"), py::arg("src"));
  m.def("memcpy_dtod", &memcpy_dtod, py::arg("dst"), py::arg("src"), py::arg("nbytes"));
  m.def("memset", &memset_, py::arg("ptr"), py::arg("value"), py::arg("nbytes"));
  m.def("synchronize", &synchronize);
  m.def("device_count", &device_count);
  m.def("device_name", &device_name);
  m.def("is_device_pointer", &is_device_pointer, py::arg("ptr"), py::arg("nbytes"));
  m.def("runtime_version", &runtime_version);
  // A failed CUDA call raises RuntimeError: this entry point provokes one (tests).
  m.def("_check_error", [](int code) { PK_CUDA_CHECK(static_cast<cudaError_t>(code)); }, py::arg("code"));
}

}  // namespace pk::cuda::bind
