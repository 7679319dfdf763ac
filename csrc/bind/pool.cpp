#include "bind/bind.h"

namespace pk::bind {

void bind_pool(pybind11::module_& /*m*/) {}

}  // namespace pk::bind
