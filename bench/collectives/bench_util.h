// Small helpers for isthmus-bench: byte sizes with suffixes, VmHWM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/core/status.h"

namespace isthmus::bench {

// "64M" -> 67108864; K/M/G are powers of 1024; a plain number is bytes.
Result<size_t> parseBytes(const std::string& text);
// Peak resident set size of this process (VmHWM in /proc/self/status), bytes; 0 if unknown.
size_t vmHwmBytes();

}  // namespace isthmus::bench
