#include "bind/bind.h"

namespace pk::bind {

void bind_conv(pybind11::module_& /*m*/) {}

}  // namespace pk::bind
