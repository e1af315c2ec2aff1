#include "bench/collectives/bench_util.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace isthmus::bench {

Result<size_t> parseBytes(const std::string& text) {
  if (text.empty()) return invalidArgumentError("empty size");
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string suffix(end);
  double mult = 1;
  if (suffix == "K" || suffix == "k" || suffix == "KiB")
    mult = 1024.0;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB")
    mult = 1048576.0;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB")
    mult = 1073741824.0;
  else if (!suffix.empty() && suffix != "B")
    return invalidArgumentError("bad size '", text, "'");
  if (v < 0) return invalidArgumentError("negative size '", text, "'");
  return static_cast<size_t>(v * mult);
}

size_t vmHwmBytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

}  // namespace isthmus::bench
