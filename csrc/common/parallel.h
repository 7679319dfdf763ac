// Thread-level parallelism for the CPU kernels (OpenMP underneath).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace pk {

inline int max_threads() { return omp_get_max_threads(); }

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
#pragma omp parallel num_threads(static_cast<int>(chunks))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t nt = omp_get_num_threads();
    const int64_t begin = n * t / nt;
    const int64_t end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

}  // namespace pk
