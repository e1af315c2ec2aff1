#include "collectives/leader_collectives.h"

#include <cstring>
#include <memory>
#include <vector>

#include "collectives/ring.h"
#include "collectives/tags.h"

namespace isthmus::coll {

Status leaderBroadcast(const LeaderCall& c, BufferView buffer, int root) {
  const Topology& t = *c.topology;
  const size_t bytes = buffer.bytes();
  if (bytes == 0 || t.worldSize() == 1) return okStatus();
  const int center = t.centerOf(c.rank), local = t.localRank(c.rank);
  const int rootCenter = t.centerOf(root), rootLocal = t.localRank(root);
  std::vector<std::shared_ptr<Request>> reqs;
  auto tag = [&](uint32_t sub) { return collTag(c.sequence, kPhaseBroadcast, 0, sub); };
  // 1. The root hands its bytes to its center's leader.
  if (center == rootCenter && rootLocal != 0) {
    if (local == rootLocal) {
      reqs.push_back(c.intra->isend(0, tag(0), buffer.data, bytes, c.deadline));
      if (c.intraBytesSent) *c.intraBytesSent += bytes;
    } else if (local == 0) {
      reqs.push_back(c.intra->irecv(rootLocal, tag(0), buffer.data, bytes, c.deadline));
    }
    ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, c.deadline).withContext("broadcast to the leader"));
  }
  // 2. Leader to leaders.
  if (local == 0 && t.numCenters() > 1) {
    if (center == rootCenter) {
      for (int p = 0; p < t.numCenters(); ++p) {
        if (p == center) continue;
        reqs.push_back(c.world->isend(t.firstRank(p), tag(1), buffer.data, bytes, c.deadline));
        if (c.interBytesSent) *c.interBytesSent += bytes;
      }
    } else {
      reqs.push_back(
          c.world->irecv(t.firstRank(rootCenter), tag(1), buffer.data, bytes, c.deadline));
    }
    ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, c.deadline).withContext("broadcast between leaders"));
  }
  // 3. Leader to its ranks.
  const int k = t.centerSize(center);
  if (local == 0) {
    for (int l = 1; l < k; ++l) {
      if (center == rootCenter && l == rootLocal) continue;
      reqs.push_back(c.intra->isend(l, tag(2), buffer.data, bytes, c.deadline));
      if (c.intraBytesSent) *c.intraBytesSent += bytes;
    }
  } else if (!(center == rootCenter && local == rootLocal)) {
    reqs.push_back(c.intra->irecv(0, tag(2), buffer.data, bytes, c.deadline));
  }
  return waitAll(reqs, c.deadline).withContext("broadcast inside the center");
}

Status leaderAllGather(const LeaderCall& c, ConstBufferView input, BufferView output) {
  const Topology& t = *c.topology;
  const size_t bytes = input.bytes();
  if (bytes == 0) return okStatus();
  auto* out = static_cast<uint8_t*>(output.data);
  const int center = t.centerOf(c.rank), local = t.localRank(c.rank);
  const int k = t.centerSize(center), first = t.firstRank(center);
  std::memcpy(out + static_cast<size_t>(c.rank) * bytes, input.data, bytes);
  std::vector<std::shared_ptr<Request>> reqs;
  auto tag = [&](uint32_t sub) { return collTag(c.sequence, kPhaseGather, 0, sub); };
  if (local != 0) {
    reqs.push_back(c.intra->isend(0, tag(0), input.data, bytes, c.deadline));
    if (c.intraBytesSent) *c.intraBytesSent += bytes;
    reqs.push_back(c.intra->irecv(0, tag(2), out, output.bytes(), c.deadline));
    return waitAll(reqs, c.deadline).withContext("all-gather through the leader");
  }
  for (int l = 1; l < k; ++l) {
    reqs.push_back(
        c.intra->irecv(l, tag(0), out + static_cast<size_t>(first + l) * bytes, bytes, c.deadline));
  }
  ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, c.deadline).withContext("all-gather to the leader"));
  for (int p = 0; p < t.numCenters(); ++p) {
    if (p == center) continue;
    const int leader = t.firstRank(p);
    reqs.push_back(c.world->irecv(leader, tag(1), out + static_cast<size_t>(leader) * bytes,
                                  t.centerSize(p) * bytes, c.deadline));
    reqs.push_back(c.world->isend(leader, tag(1), out + static_cast<size_t>(first) * bytes,
                                  k * bytes, c.deadline));
    if (c.interBytesSent) *c.interBytesSent += k * bytes;
  }
  ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, c.deadline).withContext("all-gather between leaders"));
  for (int l = 1; l < k; ++l) {
    reqs.push_back(c.intra->isend(l, tag(2), out, output.bytes(), c.deadline));
    if (c.intraBytesSent) *c.intraBytesSent += output.bytes();
  }
  return waitAll(reqs, c.deadline).withContext("all-gather from the leader");
}

}  // namespace isthmus::coll
