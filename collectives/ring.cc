#include "collectives/ring.h"

#include "collectives/dtype_math.h"
#include "collectives/tags.h"

namespace isthmus::coll {

Status waitAll(std::vector<std::shared_ptr<Request>>& requests, Deadline deadline) {
  Status first;
  for (auto& r : requests) {
    if (!r) continue;
    Status s = r->wait(deadline);
    if (!s.ok() && first.ok()) first = s;
  }
  requests.clear();
  return first;
}

Status ringReduceScatter(const RingCall& call, ConstBufferView data,
                         const std::vector<Range>& segments, float* out, RingScratch* scratch) {
  Transport* t = call.transport;
  const int k = t->size(), r = t->rank();
  const Range mine = segments[r];
  if (k == 1) {
    toFloat(data.slice(mine.begin, mine.size()), out);
    return okStatus();
  }
  size_t maxSeg = 0;
  for (const Range& s : segments) maxSeg = std::max(maxSeg, s.size());
  for (auto& b : scratch->buf) b.resize(maxSeg);
  const int next = (r + 1) % k, prev = (r + k - 1) % k;
  const float* sendPtr = nullptr;
  for (int step = 0; step < k - 1; ++step) {
    const Range sendSeg = segments[(r - 1 - step + 2 * k) % k];
    const Range recvSeg = segments[(r - 2 - step + 2 * k) % k];
    if (step == 0) {
      if (data.dtype == DType::kFloat32) {
        sendPtr = static_cast<const float*>(data.data) + sendSeg.begin;
      } else {
        scratch->own.resize(maxSeg);
        toFloat(data.slice(sendSeg.begin, sendSeg.size()), scratch->own.data());
        sendPtr = scratch->own.data();
      }
    }
    float* recvBuf = scratch->buf[step % 2].data();
    std::vector<std::shared_ptr<Request>> reqs;
    const uint64_t tag = collTag(call.sequence, kPhaseIntraReduceScatter, call.chunk, step);
    if (!recvSeg.empty()) {
      reqs.push_back(t->irecv(prev, tag, recvBuf, recvSeg.size() * 4, call.deadline));
    }
    if (!sendSeg.empty()) {
      reqs.push_back(t->isend(next, tag, sendPtr, sendSeg.size() * 4, call.deadline));
      if (call.bytesSent) *call.bytesSent += sendSeg.size() * 4;
    }
    ISTHMUS_RETURN_IF_ERROR(
        waitAll(reqs, call.deadline).withContext(strCat("intra reduce-scatter step ", step)));
    ConstBufferView own = data.slice(recvSeg.begin, recvSeg.size());
    if (step == k - 2) {
      addTo(recvBuf, own, out);  // recvSeg == mine here
    } else {
      addInto(recvBuf, own);
      sendPtr = recvBuf;
    }
  }
  return okStatus();
}

Status ringAllGather(const RingCall& call, BufferView data, const std::vector<Range>& segments) {
  Transport* t = call.transport;
  const int k = t->size(), r = t->rank();
  if (k == 1) return okStatus();
  const int next = (r + 1) % k, prev = (r + k - 1) % k;
  const size_t es = dtypeSize(data.dtype);
  auto* base = static_cast<uint8_t*>(data.data);
  for (int step = 0; step < k - 1; ++step) {
    const Range sendSeg = segments[(r - step + k) % k];
    const Range recvSeg = segments[(r - step - 1 + 2 * k) % k];
    std::vector<std::shared_ptr<Request>> reqs;
    const uint64_t tag = collTag(call.sequence, kPhaseIntraAllGather, call.chunk, step);
    if (!recvSeg.empty()) {
      reqs.push_back(
          t->irecv(prev, tag, base + recvSeg.begin * es, recvSeg.size() * es, call.deadline));
    }
    if (!sendSeg.empty()) {
      reqs.push_back(
          t->isend(next, tag, base + sendSeg.begin * es, sendSeg.size() * es, call.deadline));
      if (call.bytesSent) *call.bytesSent += sendSeg.size() * es;
    }
    ISTHMUS_RETURN_IF_ERROR(
        waitAll(reqs, call.deadline).withContext(strCat("intra all-gather step ", step)));
  }
  return okStatus();
}

}  // namespace isthmus::coll
