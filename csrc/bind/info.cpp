#include <string>

#include "bind/bind.h"
#include "common/cpu_features.h"
#include "common/parallel.h"

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
  m.def("max_threads", [] { return pk::max_threads(); }, "OpenMP threads the kernels may use.");
}

}  // namespace pk::bind
