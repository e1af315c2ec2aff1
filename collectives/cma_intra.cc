#include "collectives/cma_intra.h"

#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "collectives/dtype_math.h"
#include "collectives/ring.h"
#include "collectives/tags.h"
#include "runtime/core/logging.h"

namespace isthmus::coll {
namespace {

constexpr uint32_t kControlChunk = 0x7FF;  // chunk index no pipeline chunk uses
// Probe traffic runs before any collective, under a sequence number collectives never use.
constexpr uint64_t kProbeSequence = kControlSequence - 1;

const uint64_t kProbeWord = 0x49534854484D5553ull;  // what peers read back when probing

Status rawRead(pid_t pid, uint64_t remote, void* dst, size_t bytes) {
  size_t done = 0;
  while (done < bytes) {
    iovec local{static_cast<uint8_t*>(dst) + done, bytes - done};
    iovec rem{reinterpret_cast<void*>(remote + done), bytes - done};
    ssize_t n = process_vm_readv(pid, &local, 1, &rem, 1, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (e == ESRCH) return peerLostError("process ", pid, " is gone");
      return internalError("process_vm_readv from pid ", pid, ": ", std::strerror(e));
    }
    if (n == 0) return internalError("process_vm_readv from pid ", pid, " read nothing");
    done += static_cast<size_t>(n);
  }
  return okStatus();
}

}  // namespace

Result<bool> probeCma(Transport* t, Deadline deadline) {
  const char* mode = std::getenv("ISTHMUS_INTRA");
  std::string m = mode ? mode : "auto";
  // Let sibling processes read us even under Yama ptrace_scope=1.
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  const int k = t->size(), me = t->rank();
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  struct Hello {
    uint64_t pid;
    uint64_t probeAddr;
    uint64_t hostHash;
    uint64_t want;  // 0 ring, 1 cma/auto
  };
  Hello mine{static_cast<uint64_t>(getpid()), reinterpret_cast<uint64_t>(&kProbeWord),
             std::hash<std::string>()(host), m == "ring" ? 0u : 1u};
  std::vector<Hello> all(k);
  std::vector<std::shared_ptr<Request>> reqs;
  for (int p = 0; p < k; ++p) {
    if (p == me) continue;
    reqs.push_back(t->irecv(p, collTag(kProbeSequence, kPhaseControl, kControlChunk, 1), &all[p],
                            sizeof(Hello), deadline));
    reqs.push_back(t->isend(p, collTag(kProbeSequence, kPhaseControl, kControlChunk, 1), &mine,
                            sizeof(Hello), deadline));
  }
  ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, deadline).withContext("intra tier probe"));
  all[me] = mine;
  uint64_t ok = mine.want;
  std::string why = ok ? "" : "ISTHMUS_INTRA=ring";
  for (int p = 0; p < k && ok; ++p) {
    if (p == me) continue;
    if (all[p].hostHash != mine.hostHash) {
      ok = 0;
      why = strCat("local rank ", p, " runs on another host");
      break;
    }
    uint64_t word = 0;
    Status s = rawRead(static_cast<pid_t>(all[p].pid), all[p].probeAddr, &word, 8);
    if (!s.ok() || word != kProbeWord) {
      ok = 0;
      why =
          strCat("cannot read local rank ", p, "'s memory: ", s.ok() ? "wrong bytes" : s.message());
    }
  }
  // Everyone must agree: swap verdicts.
  std::vector<uint64_t> verdicts(k, 0);
  for (int p = 0; p < k; ++p) {
    if (p == me) continue;
    reqs.push_back(t->irecv(p, collTag(kProbeSequence, kPhaseControl, kControlChunk, 2),
                            &verdicts[p], 8, deadline));
    reqs.push_back(
        t->isend(p, collTag(kProbeSequence, kPhaseControl, kControlChunk, 2), &ok, 8, deadline));
  }
  ISTHMUS_RETURN_IF_ERROR(waitAll(reqs, deadline).withContext("intra tier probe verdicts"));
  verdicts[me] = ok;
  bool all_ok = true;
  for (int p = 0; p < k; ++p) {
    if (!verdicts[p]) {
      all_ok = false;
      if (why.empty()) why = strCat("local rank ", p, " cannot use it");
    }
  }
  if (m == "cma" && !all_ok) {
    return notSupportedError("ISTHMUS_INTRA=cma but cross-memory attach is unavailable: ", why);
  }
  if (!all_ok) {
    ISTHMUS_LOG(kInfo) << "intra tier: ring over the transport (" << why << ")";
  }
  return all_ok;
}

Status CmaIntra::exchangeAddresses(const void* buffer) {
  const int k = t_->size(), me = t_->rank();
  peers_.assign(k, PeerAddr{});
  PeerAddr mine{static_cast<uint64_t>(getpid()), reinterpret_cast<uint64_t>(buffer)};
  std::vector<std::shared_ptr<Request>> reqs;
  const uint64_t tag = collTag(seq_, kPhaseIntraReduceScatter, kControlChunk, 0);
  for (int p = 0; p < k; ++p) {
    if (p == me) continue;
    reqs.push_back(t_->irecv(p, tag, &peers_[p], sizeof(PeerAddr), deadline_));
    reqs.push_back(t_->isend(p, tag, &mine, sizeof(PeerAddr), deadline_));
  }
  peers_[me] = mine;
  return waitAll(reqs, deadline_).withContext("intra address exchange");
}

Status CmaIntra::readFrom(int peer, uint64_t offset, void* dst, size_t bytes) {
  Status s = rawRead(static_cast<pid_t>(peers_[peer].pid), peers_[peer].base + offset, dst, bytes);
  if (!s.ok()) {
    return Status(s.code(), strCat("reading the memory of peer rank ", firstRank_ + peer,
                                   " (local rank ", peer, "): ", s.message()));
  }
  return s;
}

Status CmaIntra::reduceScatter(ConstBufferView data, Range seg, float* out) {
  const int k = t_->size(), me = t_->rank();
  const size_t es = dtypeSize(data.dtype);
  toFloat(data.slice(seg.begin, seg.size()), out);  // this rank's own values first
  if (seg.empty()) return okStatus();
  tmp_.resize(seg.size() * es);
  for (int p = 0; p < k; ++p) {
    if (p == me) continue;
    ISTHMUS_RETURN_IF_ERROR(readFrom(p, seg.begin * es, tmp_.data(), tmp_.size()));
    addInto(out, ConstBufferView(tmp_.data(), seg.size(), data.dtype));
  }
  return okStatus();
}

Status CmaIntra::allGather(BufferView data, uint32_t chunk, const std::vector<Range>& segments) {
  const int k = t_->size(), me = t_->rank();
  const size_t es = dtypeSize(data.dtype);
  const uint64_t tag = collTag(seq_, kPhaseIntraAllGather, chunk, 0);
  std::vector<uint8_t> flags(k, 0);
  uint8_t one = 1;
  std::vector<std::shared_ptr<Request>> recvs(k), sends;
  for (int p = 0; p < k; ++p) {
    if (p == me) continue;
    recvs[p] = t_->irecv(p, tag, &flags[p], 1, deadline_);
    sends.push_back(t_->isend(p, tag, &one, 1, deadline_));
  }
  for (int p = 0; p < k; ++p) {
    if (p == me) continue;
    ISTHMUS_RETURN_IF_ERROR(recvs[p]->wait(deadline_).withContext(
        strCat("waiting for rank ", firstRank_ + p, "'s segment of chunk ", chunk)));
    const Range s = segments[p];
    if (s.empty()) continue;
    ISTHMUS_RETURN_IF_ERROR(
        readFrom(p, s.begin * es, static_cast<uint8_t*>(data.data) + s.begin * es, s.size() * es));
  }
  return waitAll(sends, deadline_);
}

Status CmaIntra::finish() {
  const int k = t_->size(), me = t_->rank();
  const uint64_t tag = collTag(seq_, kPhaseIntraAllGather, kControlChunk, 0);
  std::vector<uint8_t> flags(k, 0);
  uint8_t one = 1;
  std::vector<std::shared_ptr<Request>> reqs;
  for (int p = 0; p < k; ++p) {
    if (p == me) continue;
    reqs.push_back(t_->irecv(p, tag, &flags[p], 1, deadline_));
    reqs.push_back(t_->isend(p, tag, &one, 1, deadline_));
  }
  return waitAll(reqs, deadline_).withContext("intra closing handshake");
}

}  // namespace isthmus::coll
