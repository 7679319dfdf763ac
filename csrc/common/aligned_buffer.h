// A growable, cache-line aligned scratch buffer, meant to be kept per thread (thread_local) and
// reused across calls, so that hot loops never allocate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace pk {

template <class T>
class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 64;

  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }

  // At least `n` elements; the contents are undefined after growing. Throws std::bad_alloc.
  T* get(int64_t n) {
    if (n > capacity_) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
      // NOTE: std::aligned_alloc wants the size to be a multiple of the alignment.
      const size_t bytes = (static_cast<size_t>(n) * sizeof(T) + kAlign - 1) / kAlign * kAlign;
      void* p = std::aligned_alloc(kAlign, bytes);
      if (p == nullptr) throw std::bad_alloc();
      data_ = static_cast<T*>(p);
      capacity_ = n;
    }
    return data_;
  }

  // Frees the memory when it holds more than `keep` elements.
  void shrink(int64_t keep) {
    if (capacity_ > keep) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
    }
  }

 private:
  T* data_ = nullptr;
  int64_t capacity_ = 0;
};

}  // namespace pk
