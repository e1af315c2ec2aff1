#include "runtime/core/format.h"

#include <sstream>

namespace isthmus {

std::string humanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  std::ostringstream os;
  os.precision(b < 10 && u > 0 ? 2 : 0);
  os << std::fixed << b << " " << units[u];
  return os.str();
}

}  // namespace isthmus
