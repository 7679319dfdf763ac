#include "common/cpu_features.h"

#include <atomic>
#include <cstdlib>

namespace pk::cpu {
namespace {

Isa probe() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // NOTE: __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("fma")) {
    return Isa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kGeneric;
}

Isa initial_isa() {
  Isa isa = probe();
  if (const char* env = std::getenv("PYKERNELS_ISA")) {
    Isa wanted;
    if (parse_isa(env, &wanted) && static_cast<int>(wanted) < static_cast<int>(isa)) isa = wanted;
  }
  return isa;
}

std::atomic<int>& active() {
  static std::atomic<int> value{static_cast<int>(initial_isa())};
  return value;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = probe();
  return isa;
}

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

bool set_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detected_isa())) return false;
  active().store(static_cast<int>(isa), std::memory_order_relaxed);
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "generic";
  }
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "avx512") { *out = Isa::kAvx512; return true; }
  if (name == "avx2") { *out = Isa::kAvx2; return true; }
  if (name == "generic") { *out = Isa::kGeneric; return true; }
  return false;
}

}  // namespace pk::cpu
