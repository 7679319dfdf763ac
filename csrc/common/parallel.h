// Thread-level parallelism for the CPU kernels (OpenMP underneath).
#pragma once
#include <omp.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace pk {

inline int max_threads() { return omp_get_max_threads(); }

// ---- oversubscribed cores ------------------------------------------------------------------------
// A parallel region waits for its slowest thread.  When another process's or library's thread
// keeps a core busy, the region's thread on that core runs only when the scheduler gives it a time
// slice, and a region of microseconds takes milliseconds.  So the regions watch how long the
// calling thread waits for the others after its own share; a wait of more than 1 ms that is also
// more than half of that share marks the cores as oversubscribed, and for a while (the span) the
// regions run their parts one after the other on the calling thread (the same parts, in order: the
// results are the same bits either way).  The span starts at 10 ms and doubles, up to 100 ms, each
// time the rule marks the cores again within one span of the last span's end (the busy thread is
// still there); otherwise it starts again at 10 ms.
// NOTE: measured on this 2-core machine, the case that prompted it: after each call, NumPy's
// OpenBLAS keeps a worker thread spinning for about 100 ms (2^28 cycles).  In that window a 256^3
// product took 6 ms instead of 90 us and an RBM epoch (100 calls of rbm_cd) 150 ms instead of 58;
// run on one thread it took 76 ms.
// Why not 100 ms at once: on this virtual machine a core now and then stops for 2-50 ms with
// nothing else runnable (the host's doing, no guest thread involved), which meets the rule too; a
// fixed 100 ms of one thread after each such stop made about a third of the fused RBM epochs after
// scikit-learn's fit take 85-100 ms instead of 45.
namespace oversubscription {

// One clock shared by every file; the functions below have internal linkage (this header is also
// included by files compiled for one instruction set, see gemm_blocked.h).
// serial_until_ns: the end of the serial span (0: none yet, or cleared); span_ns: its length.
inline std::atomic<int64_t> serial_until_ns{0};
inline std::atomic<int64_t> span_ns{0};
constexpr int64_t kFirstSpanNs = 10000000, kLongestSpanNs = 100000000;

namespace {

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Whether regions should run on the calling thread alone for now.
inline bool serial_now() {
  const int64_t until = serial_until_ns.load(std::memory_order_relaxed);
  return until != 0 && now_ns() < until;
}

// After a region: `start` when it began, `own_done` when the calling thread finished its part,
// `end` when the last thread had.
// Marks the cores at `end`: serial for the next span (see above), which it returns.
inline int64_t mark(int64_t end) {
  const int64_t last_end = serial_until_ns.load(std::memory_order_relaxed);
  int64_t span = span_ns.load(std::memory_order_relaxed);
  span = last_end != 0 && span != 0 && end - last_end < span ? std::min(2 * span, kLongestSpanNs) : kFirstSpanNs;
  span_ns.store(span, std::memory_order_relaxed);
  serial_until_ns.store(end + span, std::memory_order_relaxed);
  return span;
}

// The rule: a wait over 1 ms that is also over half of the own share marks the cores (at `end`);
// returns the span it set, or 0.
inline int64_t judge(int64_t wait, int64_t own, int64_t end) {
  return wait > 1000000 && 2 * wait > own ? mark(end) : 0;
}

inline int64_t observe(int64_t start, int64_t own_done, int64_t end) { return judge(end - own_done, own_done - start, end); }

// first = min(first, done), for the threads of a region each offering when it finished.
inline void note_first(std::atomic<int64_t>& first, int64_t done) {
  int64_t seen = first.load(std::memory_order_relaxed);
  while (done < seen && !first.compare_exchange_weak(seen, done, std::memory_order_relaxed)) {
  }
}

}  // namespace

// The same rule over a run of short regions (a caller that runs many regions of a hundred
// microseconds or less, the fused RBM epoch's): the waits and own shares of the first thread to
// finish each region (whichever thread a busy core slowed down, the other waits), summed over
// windows of kRegions regions.  A busy core makes each such region wait for a time slice, often
// less than the 1 ms one region needs to mark the cores, and hundreds of them add up.
// NOTE: measured (fused RBM epoch, 400 regions, just after scikit-learn's fit with OpenBLAS
// spinning): 60-150 ms with the per-region rule alone, 62-68 with the windows (130 once, the
// first fit of a process); 31 ms on a quiet machine, 53 on one thread.
class Window {
 public:
  static constexpr int kRegions = 8;
  // returns the span it set, or 0
  int64_t add(int64_t start, int64_t own_done, int64_t end) {
    wait_ += end - own_done;
    own_ += own_done - start;
    if (++regions_ < kRegions) return 0;
    const int64_t span = judge(wait_, own_, end);
    wait_ = own_ = 0;
    regions_ = 0;
    return span;
  }

 private:
  int64_t wait_ = 0, own_ = 0;
  int regions_ = 0;
};
}  // namespace oversubscription

// Runs body(t) for t in [0, parts) as one OpenMP region of `parts` threads (thread t runs part t),
// or, when the cores are oversubscribed (see above) and `may_serialise`, every part in order on
// the calling thread.  Callers whose parts take a millisecond or more pass false: a time slice
// lost now and then costs them less than giving up the other cores.
// NOTE: measured (1024^3 SGEMM just after NumPy's, OpenBLAS spinning): 8.6 ms on two threads,
// 11.3 ms on one.
// With `window`, the region's timings also go to that window (see Window).
template <class F>
void run_parts(int parts, F&& body, bool may_serialise = true, oversubscription::Window* window = nullptr) {
  if (parts <= 1) {
    if (parts == 1) body(0);
    return;
  }
  if (may_serialise && oversubscription::serial_now()) {
    for (int t = 0; t < parts; ++t) body(t);
    return;
  }
  const int64_t start = oversubscription::now_ns();
  int64_t own_done = start;
  std::atomic<int64_t> first_done{INT64_MAX};
#pragma omp parallel num_threads(parts)
  {
    const int t = omp_get_thread_num();
    // a team smaller than asked for (nested or limited regions): each thread takes every
    // team-th part, so that all parts still run (a team of one waits for nobody)
    for (int p = t; p < parts; p += omp_get_num_threads()) body(p);
    const int64_t done = t == 0 || window != nullptr ? oversubscription::now_ns() : 0;
    if (t == 0) own_done = done;
    if (window != nullptr) oversubscription::note_first(first_done, done);
  }
  const int64_t end = oversubscription::now_ns();
  oversubscription::observe(start, own_done, end);
  // the window watches the first thread to finish (whichever thread a busy core slowed down)
  if (window != nullptr) window->add(start, first_done.load(std::memory_order_relaxed), end);
}

// A barrier for a team of threads that spin (with pause) until the last one arrives.
class SpinBarrier {
 public:
  void wait(int team) {
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == team - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_release);
      return;
    }
    while (gen_.load(std::memory_order_acquire) == gen) {
#if defined(__x86_64__) || defined(_M_X64)
      _mm_pause();
#endif
    }
  }

 private:
  alignas(64) std::atomic<int> count_{0};
  alignas(64) std::atomic<int> gen_{0};
};

// Runs body(phase, part) for the phases 0 .. phases - 1 in order, each over parts 0 .. parts - 1
// (thread t runs parts t, t + team, ...), in OpenMP regions whose threads meet at a barrier after
// each phase, until stop(phase) (asked before each phase; it must read what the phases before
// wrote, the same on every thread) is true.  Under oversubscription (`window`'s rule, judged after
// each phase on the first thread to finish it) the phases run on the calling thread, the same
// parts in order, until the serial span is over; then the threads take over again.
// Why not a region per phase (run_parts): the fork and join of a region per phase cost about 2 us
// a phase on this machine, and now and then its workers start a phase 100-500 us late.
// NOTE: measured (fused RBM epoch, 400 phases of 15-180 us): with a region per phase, 4-90 us a
// mini-batch (of 4 phases) from a phase's start to the second thread's start of its part; here
// below 1 us.
template <class F, class S>
void run_phases(int parts, int64_t phases, F&& body, S&& stop, oversubscription::Window& window) {
  int64_t ph = 0;
  while (ph < phases) {
    if (parts > 1 && !oversubscription::serial_now()) {
      SpinBarrier barrier;
      // per phase (two slots, alternately): when the first thread finished its parts
      std::atomic<int64_t> first_done[2] = {INT64_MAX, INT64_MAX};
      // the phase from which the calling thread runs the rest alone, set by thread 0 two phases
      // ahead so that every thread sees it at the same phase
      std::atomic<int64_t> serial_from{INT64_MAX};
      const int64_t begin = ph;
      int64_t resume = phases;
      bool stopped = false;
#pragma omp parallel num_threads(parts)
      {
        const int t = omp_get_thread_num(), team = omp_get_num_threads();
        int64_t start = t == 0 ? oversubscription::now_ns() : 0;
        for (int64_t p = begin; p < phases; ++p) {
          const bool halt = stop(p);
          if (halt || p >= serial_from.load(std::memory_order_relaxed)) {
            if (t == 0) {
              resume = p;
              stopped = halt;
            }
            break;
          }
          for (int q = t; q < parts; q += team) body(p, q);
          std::atomic<int64_t>& first = first_done[p & 1];
          oversubscription::note_first(first, oversubscription::now_ns());
          barrier.wait(team);
          if (t == 0) {
            const int64_t end = oversubscription::now_ns();
            window.add(start, first.exchange(INT64_MAX, std::memory_order_relaxed), end);
            start = end;
            // (set once: a later store could reach the threads at different phases)
            if (serial_from.load(std::memory_order_relaxed) == INT64_MAX && oversubscription::serial_now())
              serial_from.store(p + 2, std::memory_order_relaxed);
          }
        }
      }
      if (stopped) return;
      ph = resume;
    }
    // on the calling thread while the span lasts (asked before each phase)
    for (; ph < phases; ++ph) {
      if (stop(ph)) return;
      if (parts > 1 && !oversubscription::serial_now()) break;
      for (int q = 0; q < parts; ++q) body(ph, q);
    }
  }
}

// Calls fn(begin, end) on contiguous chunks of [0, n), one chunk per thread, when there are at
// least two chunks of `grain` items; otherwise runs fn(0, n) on the calling thread.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  const int64_t chunks = std::min<int64_t>(max_threads(), std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
  if (chunks <= 1 || omp_in_parallel()) {
    fn(int64_t{0}, n);
    return;
  }
  run_parts(static_cast<int>(chunks), [&](int t) {
    const int64_t begin = n * t / chunks;
    const int64_t end = n * (t + 1) / chunks;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace pk
