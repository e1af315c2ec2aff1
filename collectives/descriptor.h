// Collective descriptors and the cross-rank check that every rank issued the same collective for
// a sequence number. The check gathers one 48-byte descriptor per rank at each center's leader
// (local rank 0), the leaders swap their centers' tables, and each leader hands the full table
// back to its ranks: one WAN one-way trip plus two intra hops. Every rank then compares the same
// table, so all fail together, with a message naming which ranks called what. It doubles as the
// barrier.
#pragma once

#include <cstdint>
#include <string>

#include "collectives/communicator.h"
#include "runtime/core/deadline.h"
#include "runtime/core/dtype.h"
#include "runtime/topology.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

enum class CollKind : uint32_t {
  kAllreduce = 1,
  kReduceScatter = 2,
  kAllGather = 3,
  kBroadcast = 4,
  kBarrier = 5,
};
const char* collKindName(CollKind kind);

struct CollDescriptor {
  uint64_t sequence = 0;
  uint32_t kind = 0;
  uint32_t dtype = 0;
  uint64_t count = 0;
  uint32_t op = 0;
  int32_t root = -1;
  uint64_t interCodecHash = 0;
  uint64_t intraCodecHash = 0;
};
static_assert(sizeof(CollDescriptor) == 48, "descriptor is wire format");

uint64_t hashString(const std::string& s);
// "allreduce count=1024 fp32 sum" (codecs shown as hashes only when they differ: see check).
std::string describeDescriptor(const CollDescriptor& d);

struct DescriptorExchange {
  const Topology* topology = nullptr;
  int rank = 0;
  Transport* intra = nullptr;  // null when the center has one rank
  Transport* world = nullptr;  // null with one center
  Deadline deadline = Deadline::infinite();
};

// kInvalidArgument naming the groups of ranks when descriptors differ; transport errors as they
// come.
Status exchangeAndCheck(const DescriptorExchange& ex, const CollDescriptor& mine);

}  // namespace isthmus::coll
