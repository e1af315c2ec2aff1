#include "runtime/core/buffer.h"

namespace isthmus {

const char* memoryKindName(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kHost: return "host";
    case MemoryKind::kHostPinned: return "host-pinned";
    case MemoryKind::kCuda: return "cuda";
  }
  return "unknown";
}

}  // namespace isthmus
