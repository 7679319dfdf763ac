#include <omp.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>
#include <vector>

#include "bind/bind.h"
#include "common/cpu_features.h"
#include "common/parallel.h"
#include "gemm.h"

namespace pk::bind {

namespace py = pybind11;

void bind_info(py::module_& m) {
  m.attr("__version__") = PK_VERSION_INFO;
  m.def("detected_isa", [] { return std::string(pk::cpu::isa_name(pk::cpu::detected_isa())); },
        "Best instruction set this CPU supports: 'avx512', 'avx2' or 'generic'.");
  m.def("get_isa", [] { return std::string(pk::cpu::isa_name(pk::cpu::active_isa())); },
        "Instruction set the kernels use now.");
  m.def(
      "set_isa",
      [](const std::string& name) {
        pk::cpu::Isa isa;
        if (!pk::cpu::parse_isa(name, &isa)) {
          throw py::value_error("set_isa: argument 'name' must be 'avx512', 'avx2' or 'generic', got '" + name + "'");
        }
        if (!pk::cpu::set_isa(isa)) {
          throw py::value_error("set_isa: this CPU does not support '" + name + "' (best: '" +
                                pk::cpu::isa_name(pk::cpu::detected_isa()) + "')");
        }
      },
      py::arg("name"), "Use at most this instruction set (for tests of every code path).");
  m.def("sgemm_path", [] { return std::string(pk::cpu::sgemm_path() == pk::cpu::SgemmPath::kAmx ? "amx" : "fma"); },
        "How large float32 GEMMs are formed: 'amx' (AMX-BF16 tiles, operands split into three bf16 "
        "parts, float32 accuracy) or 'fma' (AVX-512 / AVX2 / portable FMA kernels).");
  m.def(
      "set_sgemm_path",
      [](const std::string& name) {
        if (name != "amx" && name != "fma")
          throw py::value_error("set_sgemm_path: argument 'name' must be 'amx' or 'fma', got '" + name + "'");
        if (!pk::cpu::set_sgemm_path(name == "amx" ? pk::cpu::SgemmPath::kAmx : pk::cpu::SgemmPath::kFma))
          throw py::value_error("set_sgemm_path: this CPU does not support '" + name +
                                "' (AMX-BF16 and AVX512-BF16 with the AVX-512 instruction set in use)");
      },
      py::arg("name"), "Select how large float32 GEMMs are formed (for tests and benchmarks).");
  m.def("max_threads", [] { return pk::max_threads(); }, "OpenMP threads the kernels may use.");
  namespace os = pk::oversubscription;
  m.def("oversubscribed", [] { return os::serial_now(); },
        "Whether the kernels run their parallel parts on the calling thread for now, having seen a "
        "thread wait for a busy core (see README, 'Threads').");
  m.def(
      "set_oversubscribed",
      [](double seconds) {
        if (!(seconds >= 0.0 && seconds <= 3600.0)) {
          throw py::value_error("set_oversubscribed: argument 'seconds' must be in [0, 3600], got " +
                                std::to_string(seconds));
        }
        os::serial_until_ns.store(seconds == 0.0 ? 0 : os::now_ns() + static_cast<int64_t>(seconds * 1e9),
                                  std::memory_order_relaxed);
        if (seconds == 0.0) os::span_ns.store(0, std::memory_order_relaxed);  // the next mark's span: the first
      },
      py::arg("seconds"),
      "Run parallel parts on the calling thread for this long (0: from now on, as usual, and the next "
      "mark's span is the first's).");
  m.def(
      "_observe_region",
      [](double own_seconds, double wait_seconds) {
        const int64_t start = os::now_ns();
        const int64_t own_done = start + static_cast<int64_t>(own_seconds * 1e9);
        return static_cast<double>(os::observe(start, own_done, own_done + static_cast<int64_t>(wait_seconds * 1e9))) * 1e-9;
      },
      py::arg("own_seconds"), py::arg("wait_seconds"),
      "Feed the oversubscription rule one region's timings (calling thread's own part, then its wait "
      "for the others), as if the region ended now: the serial span it set in seconds (0: none). For "
      "tests of the rule.");
  m.def(
      "_observe_window",
      [](const std::vector<std::pair<double, double>>& regions) {
        os::Window window;
        int64_t t = os::now_ns(), span = 0;
        for (const auto& [own, wait] : regions) {
          const int64_t own_done = t + static_cast<int64_t>(own * 1e9), end = own_done + static_cast<int64_t>(wait * 1e9);
          span = std::max(span, window.add(t, own_done, end));
          t = end;
        }
        return static_cast<double>(span) * 1e-9;
      },
      py::arg("regions"),
      "Feed the windowed oversubscription rule (the fused RBM epoch's) a run of regions' (own, wait) "
      "timings in seconds: the longest serial span it set in seconds (0: none). For tests of the rule.");
  m.def(
      "_trace_phases",
      [](int parts, int64_t phases, int64_t mark_at, int64_t stop_at, int64_t clear_at) {
        if (parts < 1 || parts > 64 || phases < 0 || phases > 100000) {
          throw py::value_error("_trace_phases: need 1 <= parts <= 64 and 0 <= phases <= 100000");
        }
        // per (phase, part): how many times it ran, its place in the order of all runs, and the
        // OpenMP thread that ran it (-1: the calling thread, outside the region)
        std::vector<int64_t> runs(static_cast<size_t>(parts * phases)), order(runs.size()), thread(runs.size());
        std::atomic<int64_t> next{0};
        os::Window window;
        {
          py::gil_scoped_release nogil;
          pk::run_phases(
              parts, phases,
              [&](int64_t ph, int q) {
                if (ph == mark_at && q == 0) os::serial_until_ns.store(os::now_ns() + 60000000000, std::memory_order_relaxed);
                if (ph == clear_at && q == parts - 1) os::serial_until_ns.store(0, std::memory_order_relaxed);
                const size_t i = static_cast<size_t>(ph * parts + q);
                ++runs[i];
                order[i] = next.fetch_add(1);
                thread[i] = omp_in_parallel() ? omp_get_thread_num() : -1;
              },
              [&](int64_t ph) { return ph == stop_at; }, window);
        }
        return py::make_tuple(runs, order, thread);
      },
      py::arg("parts"), py::arg("phases"), py::arg("mark_at"), py::arg("stop_at"), py::arg("clear_at") = -1,
      "Run empty phases through run_phases (the fused RBM epoch's threads), marking the cores "
      "oversubscribed (for 60 s) in phase mark_at, clearing the mark at the end of phase clear_at and "
      "stopping before phase stop_at: per (phase, part) the number of runs, their order and the "
      "thread of each, for tests.");
}

}  // namespace pk::bind
