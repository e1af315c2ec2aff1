#include "collectives/descriptor.h"

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "collectives/ring.h"
#include "collectives/tags.h"
#include "runtime/core/hash.h"

namespace isthmus::coll {

const char* collKindName(CollKind kind) {
  switch (kind) {
    case CollKind::kAllreduce: return "allreduce";
    case CollKind::kReduceScatter: return "reduce_scatter";
    case CollKind::kAllGather: return "all_gather";
    case CollKind::kBroadcast: return "broadcast";
    case CollKind::kBarrier: return "barrier";
  }
  return "unknown";
}

uint64_t hashString(const std::string& s) { return fnv1a(s.data(), s.size()); }

std::string describeDescriptor(const CollDescriptor& d) {
  std::string dtype = isValidDType(static_cast<uint8_t>(d.dtype))
                          ? dtypeName(static_cast<DType>(d.dtype))
                          : strCat("dtype#", d.dtype);
  std::string s = strCat(collKindName(static_cast<CollKind>(d.kind)), " seq=", d.sequence,
                         " count=", d.count, " ", dtype);
  if (d.kind == static_cast<uint32_t>(CollKind::kAllreduce) ||
      d.kind == static_cast<uint32_t>(CollKind::kReduceScatter)) {
    s += strCat(" ", reduceOpName(static_cast<ReduceOp>(d.op)));
  }
  if (d.root >= 0) s += strCat(" root=", d.root);
  s += strCat(" codecs=", std::hex, d.interCodecHash % 0x10000, "/", d.intraCodecHash % 0x10000);
  return s;
}

Status exchangeAndCheck(const DescriptorExchange& ex, const CollDescriptor& mine) {
  const Topology& topo = *ex.topology;
  const int center = topo.centerOf(ex.rank), local = topo.localRank(ex.rank);
  const int k = topo.centerSize(center), C = topo.numCenters(), N = topo.worldSize();
  const uint64_t seq = mine.sequence;
  const size_t D = sizeof(CollDescriptor);
  std::vector<CollDescriptor> table(N);
  std::vector<std::shared_ptr<Request>> reqs;
  if (local != 0) {
    reqs.push_back(ex.intra->isend(0, collTag(seq, kPhaseDescriptor, 0, 0), &mine, D, ex.deadline));
    reqs.push_back(
        ex.intra->irecv(0, collTag(seq, kPhaseDescriptor, 0, 2), table.data(), N * D, ex.deadline));
    ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, ex.deadline).withContext("descriptor exchange"));
  } else {
    const int first = topo.firstRank(center);
    table[first] = mine;
    for (int l = 1; l < k; ++l) {
      reqs.push_back(ex.intra->irecv(l, collTag(seq, kPhaseDescriptor, 0, 0), &table[first + l], D,
                                     ex.deadline));
    }
    ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, ex.deadline).withContext("descriptor gather"));
    for (int p = 0; p < C; ++p) {
      if (p == center) continue;
      const int leader = topo.firstRank(p);
      reqs.push_back(ex.world->irecv(leader, collTag(seq, kPhaseDescriptor, 0, 1), &table[leader],
                                     topo.centerSize(p) * D, ex.deadline));
      reqs.push_back(ex.world->isend(leader, collTag(seq, kPhaseDescriptor, 0, 1), &table[first],
                                     k * D, ex.deadline));
    }
    ISTHMUS_RETURN_IF_ERROR(
        waitAll(reqs, ex.deadline).withContext("descriptor swap between centers"));
    for (int l = 1; l < k; ++l) {
      reqs.push_back(ex.intra->isend(l, collTag(seq, kPhaseDescriptor, 0, 2), table.data(), N * D,
                                     ex.deadline));
    }
    ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, ex.deadline).withContext("descriptor scatter"));
  }
  // Group ranks by identical descriptors.
  std::map<std::string, std::vector<int>> groups;
  std::map<std::string, int> firstOf;
  for (int r = 0; r < N; ++r) {
    std::string key(reinterpret_cast<const char*>(&table[r]), D);
    groups[key].push_back(r);
    firstOf.emplace(key, r);
  }
  if (groups.size() == 1) return okStatus();
  std::string msg = strCat("mismatched collectives for sequence number ", seq, ":");
  for (auto& [key, ranks] : groups) {
    msg += " ranks {";
    for (size_t i = 0; i < ranks.size(); ++i) msg += strCat(i ? "," : "", ranks[i]);
    msg += strCat("} called ", describeDescriptor(table[firstOf[key]]), ";");
  }
  return invalidArgumentError(msg);
}

}  // namespace isthmus::coll
