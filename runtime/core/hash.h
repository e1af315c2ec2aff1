// fnv1a: a 64-bit FNV-1a hash of a byte range. Not cryptographic: for comparing buffers across
// ranks (bitwise agreement checks, descriptor fingerprints) and test checksums.
#pragma once

#include <cstddef>
#include <cstdint>

namespace isthmus {

inline uint64_t fnv1a(const void* data, size_t bytes) {
  uint64_t h = 1469598103934665603ull;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace isthmus
