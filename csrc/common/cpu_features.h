// Run-time instruction-set selection. Kernels compiled for one ISA live in *_avx512.cpp / *_avx2.cpp
// files and are only entered after active_isa() says the CPU has it.
#pragma once
#include <string>

namespace pk::cpu {

enum class Isa : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// Best ISA the CPU (and OS) supports.
Isa detected_isa();
// ISA the kernels use now: detected_isa() unless lowered by set_isa() or PYKERNELS_ISA at load.
Isa active_isa();
// Lower (or restore) the ISA in use, e.g. to test every code path on one machine.
// Returns false when the CPU lacks `isa`.
bool set_isa(Isa isa);

const char* isa_name(Isa isa);
// Whether the CPU has AMX-TILE and AMX-BF16 and the kernel granted this process the tile state
// (asked once); amx_bf16_available(): that and AVX512-BF16 (vcvtne2ps2bf16, the bf16 splits).
// Callers also need a compiler with AMX support (PK_NO_AMX unset in their *_amx.cpp file).
bool amx_available();
bool amx_bf16_available();

// Parses "generic", "avx2", "avx512"; returns false for anything else.
bool parse_isa(const std::string& name, Isa* out);

}  // namespace pk::cpu
