// How the collectives name their messages: transport tags are makeTag(sequence, step) and the
// 24-bit step is phase (3 bits) | chunk (11 bits) | sub-step (10 bits). A collective's sequence
// number never repeats, so no tag is reused within a communicator's lifetime.
#pragma once

#include <cstdint>

#include "runtime/transport/transport.h"

namespace isthmus::coll {

enum Phase : uint32_t {
  kPhaseDescriptor = 0,  // mismatch check / barrier
  kPhaseIntraReduceScatter = 1,
  kPhaseInterAllToAll = 2,
  kPhaseInterAllGather = 3,
  kPhaseIntraAllGather = 4,
  kPhaseBroadcast = 5,
  kPhaseGather = 6,
  kPhaseControl = 7,  // abort notices (sequence number kControlSequence)
};

inline constexpr uint64_t kControlSequence = (uint64_t{1} << 40) - 1;

inline uint64_t collTag(uint64_t seq, uint32_t phase, uint32_t chunk, uint32_t sub) {
  return makeTag(seq, ((phase & 7u) << 21) | ((chunk & 0x7FFu) << 10) | (sub & 0x3FFu));
}

}  // namespace isthmus::coll
