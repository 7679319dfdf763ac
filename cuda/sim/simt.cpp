// The SIMT emulator's scheduler: fibers, barriers, warp rendezvous, the grid loop and the host-memory
// runtime API. See simt.h for the execution model.
#include "simt.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define PK_SIM_ASAN 1
#else
#define PK_SIM_ASAN 0
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace pk::sim {

thread_local uint3 t_thread_idx = {0, 0, 0};
thread_local uint3 t_block_idx = {0, 0, 0};
thread_local uint3 t_block_dim = {1, 1, 1};
thread_local uint3 t_grid_dim = {1, 1, 1};

namespace {

// ASan instruments every frame with redzones: fibers need more stack under it.
constexpr size_t kStackBytes = PK_SIM_ASAN ? (512u << 10) : (64u << 10);
constexpr unsigned kMaxThreadsPerBlock = 1024;

// ---- Context switch ------------------------------------------------------------------------------
#if defined(__x86_64__)
// pk_sim_switch(void** save_sp, void* new_sp): pushes the System V callee-saved registers, stores
// the stack pointer in *save_sp, loads new_sp and pops the registers saved there. The floating-point
// control words are not switched: every fiber runs with the OS thread's settings.
extern "C" void pk_sim_switch(void** save_sp, void* new_sp);
asm(R"(
  .text
  .p2align 4
  .globl pk_sim_switch
  .hidden pk_sim_switch
  .type pk_sim_switch, @function
pk_sim_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size pk_sim_switch, .-pk_sim_switch
)");

struct Context {
  void* sp = nullptr;
};
inline void switch_context(Context& from, Context& to) { pk_sim_switch(&from.sp, to.sp); }
// A fresh context that starts in entry() on the stack [lo, lo + bytes).
inline void make_context(Context& ctx, char* lo, size_t bytes, void (*entry)()) {
  auto top = reinterpret_cast<uintptr_t>(lo + bytes) & ~uintptr_t(15);
  auto* sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                             // entry()'s "return address": it never returns
  *--sp = reinterpret_cast<void*>(entry);      // popped by pk_sim_switch's ret
  for (int i = 0; i < 6; ++i) *--sp = nullptr;  // rbp rbx r12..r15
  ctx.sp = sp;                                 // entry() starts with rsp % 16 == 8, as after a call
}
#else
struct Context {
  ucontext_t uc;
};
inline void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
inline void make_context(Context& ctx, char* lo, size_t bytes, void (*entry)()) {
  getcontext(&ctx.uc);
  ctx.uc.uc_stack.ss_sp = lo;
  ctx.uc.uc_stack.ss_size = bytes;
  ctx.uc.uc_link = nullptr;
  makecontext(&ctx.uc, entry, 0);
}
#endif

// ---- Block scheduler -----------------------------------------------------------------------------
enum class State : uint8_t { kReady, kBlockBarrier, kWarpSync, kDone };

struct Fiber {
  Context ctx;
  char* stack_lo = nullptr;
  uint3 idx{0, 0, 0};
  unsigned linear = 0;
  State state = State::kReady;
  uint8_t parity = 0;       // exchange buffer the next warp rendezvous writes
  uint8_t last_parity = 0;  // buffer of the latest completed rendezvous
  void* fake_stack = nullptr;
};

struct Warp {
  uint64_t value[2][32];
};

struct Worker {
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  char* stacks = nullptr;  // mmap'ed: [guard page | stack] per fiber, reused by every block
  size_t stack_count = 0;
  Context scheduler;
  Fiber* current = nullptr;
  unsigned threads = 0;  // of the running block
  ThreadBody body = nullptr;
  void* body_ctx = nullptr;
  const void* sched_bottom = nullptr;  // ASan: the OS thread's own stack
  size_t sched_size = 0;
  void* sched_fake = nullptr;
  uint64_t switches = 0, barriers = 0;

  ~Worker() {
    if (stacks) munmap(stacks, stack_count * slot_bytes());
  }
  static size_t slot_bytes() { return kStackBytes + page_bytes(); }
  static size_t page_bytes() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

  bool reserve(unsigned n) {
    if (n <= stack_count) return true;
    if (stacks) munmap(stacks, stack_count * slot_bytes());
    stacks = nullptr;
    stack_count = 0;
    const size_t count = std::max<size_t>(n, 32);
    void* p = mmap(nullptr, count * slot_bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) return false;
    stacks = static_cast<char*>(p);
    stack_count = count;
    // A guard page below every stack: an overflow faults instead of corrupting the neighbour.
    for (size_t i = 0; i < count; ++i) mprotect(stacks + i * slot_bytes(), page_bytes(), PROT_NONE);
    fibers.assign(count, Fiber{});
    for (size_t i = 0; i < count; ++i) fibers[i].stack_lo = stacks + i * slot_bytes() + page_bytes();
    return true;
  }
};

thread_local Worker* tl_worker = nullptr;
thread_local std::unique_ptr<Worker> tl_worker_owner;

Worker& worker() {
  if (!tl_worker) {
    tl_worker_owner = std::make_unique<Worker>();
    tl_worker = tl_worker_owner.get();
  }
  return *tl_worker;
}

std::atomic<uint64_t> g_launches{0}, g_blocks{0}, g_switches{0}, g_barriers{0};
thread_local cudaError_t tl_last_error = cudaSuccess;

// Fiber side of a switch to the scheduler. `finished`: the fiber never resumes (ASan drops its fake stack).
inline void yield_to_scheduler(Worker& w, Fiber& f, bool finished) {
#if PK_SIM_ASAN
  __sanitizer_start_switch_fiber(finished ? nullptr : &f.fake_stack, w.sched_bottom, w.sched_size);
#else
  (void)finished;
#endif
  switch_context(f.ctx, w.scheduler);
#if PK_SIM_ASAN
  __sanitizer_finish_switch_fiber(f.fake_stack, &w.sched_bottom, &w.sched_size);
#endif
}

void fiber_entry() {
  Worker& w = *tl_worker;
#if PK_SIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &w.sched_bottom, &w.sched_size);
#endif
  w.body(w.body_ctx);
  Fiber& f = *w.current;
  f.state = State::kDone;
  yield_to_scheduler(w, f, true);
  __builtin_unreachable();
}

// Scheduler side: resume fiber f until it parks or finishes.
inline void resume(Worker& w, Fiber& f) {
  w.current = &f;
  t_thread_idx = f.idx;
#if PK_SIM_ASAN
  __sanitizer_start_switch_fiber(&w.sched_fake, f.stack_lo, kStackBytes);
#endif
  switch_context(w.scheduler, f.ctx);
#if PK_SIM_ASAN
  __sanitizer_finish_switch_fiber(w.sched_fake, nullptr, nullptr);
#endif
  ++w.switches;
}

// Runs one block to completion on this OS thread.
cudaError_t run_block(Worker& w, uint3 block_idx, dim3 block) {
  const unsigned n = block.x * block.y * block.z;
  t_block_idx = block_idx;
  w.threads = n;
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = w.fibers[i];
    f.linear = i;
    f.idx = {i % block.x, (i / block.x) % block.y, i / (block.x * block.y)};
    f.state = State::kReady;
    f.parity = 0;
    f.fake_stack = nullptr;
#if PK_SIM_ASAN
    // An abandoned fiber (failed launch) may leave poisoned frames on the reused stack.
    __asan_unpoison_memory_region(f.stack_lo, kStackBytes);
#endif
    make_context(f.ctx, f.stack_lo, kStackBytes, fiber_entry);
  }
  const unsigned n_warps = (n + 31) / 32;
  if (w.warps.size() < n_warps) w.warps.resize(n_warps);
  for (;;) {
    // Resume in reverse thread order: code that relies on thread order without a barrier breaks.
    for (unsigned i = n; i-- > 0;) {
      if (w.fibers[i].state == State::kReady) resume(w, w.fibers[i]);
    }
    unsigned done = 0, at_block = 0, at_warp = 0;
    for (unsigned i = 0; i < n; ++i) {
      switch (w.fibers[i].state) {
        case State::kDone: ++done; break;
        case State::kBlockBarrier: ++at_block; break;
        case State::kWarpSync: ++at_warp; break;
        case State::kReady: break;
      }
    }
    if (done == n) return cudaSuccess;
    if (at_warp > 0) {
      // Release every warp whose lanes have all arrived at a warp rendezvous.
      bool released = false;
      for (unsigned wi = 0; wi < n_warps; ++wi) {
        const unsigned lo = wi * 32, hi = std::min(n, lo + 32);
        bool all = true;
        for (unsigned i = lo; i < hi; ++i) all = all && w.fibers[i].state == State::kWarpSync;
        if (all) {
          for (unsigned i = lo; i < hi; ++i) w.fibers[i].state = State::kReady;
          released = true;
        }
      }
      // NOTE: a warp whose lanes wait at different rendezvous points (or some exited) deadlocks
      // on a GPU as well; here it is reported as a launch failure.
      if (!released) return cudaErrorLaunchFailure;
      continue;
    }
    // Only block barriers (and exits) are left: every thread must have reached the barrier.
    if (done != 0) return cudaErrorLaunchFailure;
    for (unsigned i = 0; i < n; ++i) w.fibers[i].state = State::kReady;
    ++w.barriers;
  }
}

bool valid_config(dim3 grid, dim3 block) {
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0) return false;
  if (block.x > 1024 || block.y > 1024 || block.z > 64) return false;
  if (uint64_t(block.x) * block.y * block.z > kMaxThreadsPerBlock) return false;
  if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) return false;
  return true;
}

// Runs blocks [begin, end) of the grid (linear block index) on this OS thread.
cudaError_t run_blocks(dim3 grid, dim3 block, ThreadBody body, void* ctx, uint64_t begin, uint64_t end,
                       const std::atomic<int>* failed) {
  Worker& w = worker();
  if (!w.reserve(block.x * block.y * block.z)) return cudaErrorMemoryAllocation;
  t_block_dim = {block.x, block.y, block.z};
  t_grid_dim = {grid.x, grid.y, grid.z};
  w.body = body;
  w.body_ctx = ctx;
  w.switches = w.barriers = 0;
  cudaError_t err = cudaSuccess;
  for (uint64_t b = begin; b < end && err == cudaSuccess; ++b) {
    if (failed && failed->load(std::memory_order_relaxed)) break;
    const uint3 idx = {static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                       static_cast<unsigned>(b / (uint64_t(grid.x) * grid.y))};
    err = run_block(w, idx, block);
  }
  g_blocks.fetch_add(end - begin, std::memory_order_relaxed);
  g_switches.fetch_add(w.switches, std::memory_order_relaxed);
  g_barriers.fetch_add(w.barriers, std::memory_order_relaxed);
  return err;
}

}  // namespace

void block_barrier() {
  Worker& w = *tl_worker;
  Fiber& f = *w.current;
  f.state = State::kBlockBarrier;
  yield_to_scheduler(w, f, false);
}

void warp_exchange(uint64_t value) {
  Worker& w = *tl_worker;
  Fiber& f = *w.current;
  w.warps[f.linear / 32].value[f.parity][f.linear % 32] = value;
  f.last_parity = f.parity;
  f.parity ^= 1;
  f.state = State::kWarpSync;
  yield_to_scheduler(w, f, false);
}

uint64_t lane_value(int lane) {
  const Worker& w = *tl_worker;
  const Fiber& f = *w.current;
  return w.warps[f.linear / 32].value[f.last_parity][lane];
}

int lane_id() { return static_cast<int>(tl_worker->current->linear % 32); }

int warp_lanes() {
  const Worker& w = *tl_worker;
  const unsigned lo = w.current->linear / 32 * 32;
  return static_cast<int>(std::min(32u, w.threads - lo));
}

cudaError_t run_grid(dim3 grid, dim3 block, ThreadBody body, void* ctx) {
  g_launches.fetch_add(1, std::memory_order_relaxed);
  if (!valid_config(grid, block)) return tl_last_error = cudaErrorInvalidConfiguration;
  const uint64_t blocks = uint64_t(grid.x) * grid.y * grid.z;
  cudaError_t err = cudaSuccess;
#if defined(_OPENMP)
  const int threads = static_cast<int>(std::min<uint64_t>(blocks, static_cast<uint64_t>(omp_get_max_threads())));
  if (threads > 1 && !omp_in_parallel()) {
    std::atomic<int> failed{0};
    std::atomic<int> first_error{cudaSuccess};
#pragma omp parallel num_threads(threads)
    {
      // Contiguous chunks of blocks per OS thread (a block's cost does not vary much in our kernels).
      const uint64_t t = static_cast<uint64_t>(omp_get_thread_num()), nt = static_cast<uint64_t>(omp_get_num_threads());
      const uint64_t begin = blocks * t / nt, end = blocks * (t + 1) / nt;
      const cudaError_t e = run_blocks(grid, block, body, ctx, begin, end, &failed);
      if (e != cudaSuccess) {
        int expected = cudaSuccess;
        first_error.compare_exchange_strong(expected, e);
        failed.store(1);
      }
    }
    err = static_cast<cudaError_t>(first_error.load());
  } else {
    err = run_blocks(grid, block, body, ctx, 0, blocks, nullptr);
  }
#else
  err = run_blocks(grid, block, body, ctx, 0, blocks, nullptr);
#endif
  if (err != cudaSuccess) tl_last_error = err;
  return err;
}

Counters counters() {
  return {g_launches.load(), g_blocks.load(), g_switches.load(), g_barriers.load()};
}

}  // namespace pk::sim

// ---- Runtime API on host memory ------------------------------------------------------------------
cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  if (!ptr) return cudaErrorInvalidValue;
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  // 256-byte alignment, as cudaMalloc guarantees.
  const size_t rounded = (bytes + 255) / 256 * 256;
  *ptr = std::aligned_alloc(256, rounded);
  return *ptr ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaFree(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) return cudaErrorInvalidValue;
  if (bytes && (!dst || !src)) return cudaErrorInvalidValue;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) {
  if (bytes && !ptr) return cudaErrorInvalidValue;
  if (bytes) std::memset(ptr, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaGetLastError() { return std::exchange(pk::sim::tl_last_error, cudaSuccess); }

cudaError_t cudaPeekAtLastError() { return pk::sim::tl_last_error; }

const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure (cuda-sim: the threads of a block or warp did not all reach the same "
             "barrier or warp rendezvous)";
  }
  return "unrecognized error code";
}
