#include "collectives/hier_allreduce.h"

#include <array>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "collectives/cma_intra.h"
#include "collectives/dtype_math.h"
#include "collectives/ring.h"
#include "collectives/tags.h"
#include "runtime/core/logging.h"

namespace isthmus::coll {
namespace {

using Bytes = std::vector<uint8_t>;

// Seconds spent per step, for ISTHMUS_COLL_TRACE=1 (one line per allreduce on stderr).
enum TraceStep { kRS, kEncode1, kWaitA2A, kReduce, kWaitAG, kDecode, kAG, kWaitSends, kNumSteps };
const char* const kTraceNames[kNumSteps] = {"rs",      "encode1", "wait_a2a", "reduce_encode2",
                                            "wait_ag", "decode",  "ag",       "wait_sends"};
// ISTHMUS_COLL_TRACE=1: the per-step totals; =2: also one line per chunk with the times (ms
// since the start) at which it was posted, its all-to-all arrived, its all-gather was posted,
// its all-gather arrived and it was done.
int traceLevel() {
  static const int level = [] {
    const char* v = std::getenv("ISTHMUS_COLL_TRACE");
    return v && *v ? std::atoi(v) : 0;
  }();
  return level;
}
bool traceEnabled() { return traceLevel() > 0; }
class StepTimer {
 public:
  explicit StepTimer(double* acc) : acc_(acc), t0_(Deadline::Clock::now()) {}
  ~StepTimer() { *acc_ += secondsSince(t0_); }

 private:
  double* acc_;
  Deadline::Clock::time_point t0_;
};
using Requests = std::vector<std::shared_ptr<Request>>;

struct SlotWork {
  int slot = 0;
  Range range;                  // tensor elements
  float* data = nullptr;        // fp32 values of the slot (the segment's storage)
  std::vector<Bytes> encoded;   // [C] pieces of this rank's center sum, encoded once
  std::vector<Bytes> incoming;  // [C] this rank's piece from every center
  Bytes reduced;                // this rank's piece, summed over centers, encoded once
  std::vector<Bytes> gathered;  // [C] reduced pieces from every owner
  Requests allToAllRecvs, allGatherRecvs;
};

struct ChunkWork {
  size_t index = 0;
  Range range;
  Range segment;
  std::vector<float> segmentScratch;  // fp32 segment when the tensor is not fp32
  float* segmentData = nullptr;
  std::vector<SlotWork> slots;
  Requests sends;
  std::array<double, 5>
      times{};  // ISTHMUS_COLL_TRACE=2, ms: posted, a2a in, ag posted, ag in, done
};
using ChunkPtr = std::shared_ptr<ChunkWork>;

class ChunkQueue {
 public:
  void push(ChunkPtr c) {
    std::lock_guard<std::mutex> l(mu_);
    q_.push_back(std::move(c));
    cv_.notify_all();
  }
  void close() {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // Null once closed and drained.
  ChunkPtr pop() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return nullptr;
    ChunkPtr c = std::move(q_.front());
    q_.pop_front();
    return c;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ChunkPtr> q_;
  bool closed_ = false;
};

class Schedule {
 public:
  Schedule(const HierAllreduceArgs& a, BufferView buffer) : a_(a), L_(*a.layout), buf_(buffer) {}

  Status run(TrafficStats* traffic) {
    start_ = Deadline::Clock::now();
    const auto start = start_;
    if (a_.intra && a_.intraCma) {
      const int center = L_.center();
      cma_ = std::make_unique<CmaIntra>(a_.intra, a_.topology->firstRank(center), a_.sequence,
                                        a_.deadline);
      Status s = cma_->exchangeAddresses(buf_.data);
      if (!s.ok()) {
        fail(s);
        return s;
      }
    }
    std::thread tb([&] { stageB(); });
    std::thread tc([&] { stageC(); });
    stageA();
    tb.join();
    tc.join();
    if (cma_ && !failed()) {
      Status s = cma_->finish();
      if (!s.ok()) fail(s);
    }
    if (traceEnabled()) {
      std::string line = strCat("allreduce seq=", a_.sequence, " ", L_.count(), " elems, ",
                                L_.numChunks(), " chunks: total ", secondsSince(start), " s;");
      for (int k = 0; k < kNumSteps; ++k) line += strCat(" ", kTraceNames[k], "=", steps_[k]);
      ISTHMUS_LOG(kInfo) << line;
    }
    if (traceLevel() > 1) {
      std::string line = strCat("allreduce seq=", a_.sequence, " chunk times (ms):");
      for (const auto& t : chunkTimes_) {
        line += " [";
        for (size_t k = 0; k < t.size(); ++k) line += strCat(k ? " " : "", static_cast<int>(t[k]));
        line += "]";
      }
      ISTHMUS_LOG(kInfo) << line;
    }
    traffic->interBytesSent += interSent_[0] + interSent_[1];
    traffic->interBytesReceived += interReceived_[0] + interReceived_[1];
    traffic->intraBytesSent += intraSent_[0] + intraSent_[1];
    std::lock_guard<std::mutex> l(mu_);
    if (!error_.ok() && a_.park) {
      for (auto& c : live_) a_.park(c);
      a_.park(ring_);
    }
    return error_;
  }

 private:
  int numCenters() const { return L_.numCenters(); }
  int me() const { return L_.center(); }
  bool failed() {
    std::lock_guard<std::mutex> l(mu_);
    return !error_.ok();
  }
  void fail(const Status& s) {
    bool first = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (error_.ok()) {
        error_ = s;
        first = true;
      }
      windowCv_.notify_all();
    }
    q1_.close();
    q2_.close();
    if (first && a_.onError) a_.onError(s);
  }
  int peerOf(int center, int slot) const {
    return a_.topology->globalRank(center, L_.slotOwner(center, slot));
  }

  // ---- stage A: intra reduce-scatter, encode, post the all-to-all ----------------------------
  void stageA() {
    for (size_t i = 0; i < L_.numChunks(); ++i) {
      {
        std::unique_lock<std::mutex> l(mu_);
        windowCv_.wait(l, [&] { return inFlight_ < a_.windowChunks || !error_.ok(); });
        if (!error_.ok()) break;
        ++inFlight_;
      }
      auto c = std::make_shared<ChunkWork>();
      {
        std::lock_guard<std::mutex> l(mu_);
        live_.push_back(c);
      }
      Status s = reduceScatterAndPost(*c, i);
      if (!s.ok()) {
        fail(s.withContext(strCat("chunk ", i)));
        break;
      }
      mark(*c, 0);
      (numCenters() > 1 ? q1_ : q2_).push(c);
    }
    q1_.close();  // with one center stage B then just closes q2_ behind the last chunk
  }

  Status reduceScatterAndPost(ChunkWork& c, size_t i) {
    c.index = i;
    c.range = L_.chunk(i);
    c.segment = L_.segment(i, me(), L_.localRank());
    if (buf_.dtype == DType::kFloat32) {
      c.segmentData = static_cast<float*>(buf_.data) + c.segment.begin;
    } else {
      c.segmentScratch.resize(c.segment.size());
      c.segmentData = c.segmentScratch.data();
    }
    if (cma_) {
      StepTimer t(&steps_[kRS]);
      ISTHMUS_RETURN_IF_ERROR(
          cma_->reduceScatter(buf_, c.segment, c.segmentData).withContext("intra reduce-scatter"));
    } else if (a_.intra) {
      RingCall call{a_.intra, a_.sequence, static_cast<uint32_t>(i), a_.deadline, &intraSent_[0]};
      StepTimer t(&steps_[kRS]);
      ISTHMUS_RETURN_IF_ERROR(
          ringReduceScatter(call, buf_, L_.localSegments(i), c.segmentData, ring_.get()));
    } else {
      toFloat(ConstBufferView(buf_).slice(c.segment.begin, c.segment.size()), c.segmentData);
    }
    if (numCenters() == 1) return okStatus();
    const int C = numCenters();
    for (int j = L_.firstSlot(me(), L_.localRank()); j < L_.lastSlot(me(), L_.localRank()); ++j) {
      c.slots.emplace_back();
      SlotWork& w = c.slots.back();
      w.slot = j;
      w.range = L_.slot(i, j);
      w.data = c.segmentData + (w.range.begin - c.segment.begin);
      w.encoded.resize(C);
      w.incoming.resize(C);
      const uint64_t tag = collTag(a_.sequence, kPhaseInterAllToAll, i, j);
      const size_t myPiece = L_.piece(i, j, me()).size();
      for (int p = 0; p < C; ++p) {
        if (p == me() || myPiece == 0) continue;
        w.incoming[p].resize(a_.codec->maxEncodedBytes(myPiece, DType::kFloat32));
        w.allToAllRecvs.push_back(a_.world->irecv(peerOf(p, j), tag, w.incoming[p].data(),
                                                  w.incoming[p].size(), a_.deadline));
        interReceived_[0] += w.incoming[p].size();
      }
      for (int p = 0; p < C; ++p) {
        const Range pr = L_.piece(i, j, p);
        if (pr.empty()) continue;
        StepTimer t(&steps_[kEncode1]);
        ConstBufferView x(w.data + (pr.begin - w.range.begin), pr.size(), DType::kFloat32);
        Bytes& out = w.encoded[p];
        out.resize(a_.codec->maxEncodedBytes(pr.size(), DType::kFloat32));
        Result<size_t> n =
            a_.residual1
                ? a_.codec->encodeWithErrorFeedback(
                      x, a_.residual1 + L_.residual1Offset(i, j) + (pr.begin - w.range.begin),
                      out.data(), out.size())
                : a_.codec->encode(x, out.data(), out.size());
        if (!n.ok()) return n.status().withContext("encode for the inter all-to-all");
        if (p == me()) continue;
        c.sends.push_back(a_.world->isend(peerOf(p, j), tag, out.data(), out.size(), a_.deadline));
        interSent_[0] += out.size();
      }
    }
    return okStatus();
  }

  // ---- stage B: owner reduces its piece, re-encodes once, posts the all-gather ---------------
  void stageB() {
    while (ChunkPtr c = q1_.pop()) {
      Status s = reduceAndPost(*c);
      if (!s.ok()) {
        fail(s.withContext(strCat("chunk ", c->index)));
        break;
      }
      q2_.push(c);
    }
    q2_.close();
  }

  Status reduceAndPost(ChunkWork& c) {
    const int C = numCenters();
    const size_t i = c.index;
    for (SlotWork& w : c.slots) {
      {
        StepTimer t(&steps_[kWaitA2A]);
        ISTHMUS_RETURN_IF_ERROR(
            waitAll(w.allToAllRecvs, a_.deadline).withContext("inter all-to-all receive"));
      }
      mark(c, 1);
      StepTimer t(&steps_[kReduce]);
      const Range pr = L_.piece(i, w.slot, me());
      const uint64_t tag = collTag(a_.sequence, kPhaseInterAllGather, i, w.slot);
      w.gathered.resize(C);
      for (int p = 0; p < C; ++p) {
        const size_t n = L_.piece(i, w.slot, p).size();
        if (p == me() || n == 0) continue;
        w.gathered[p].resize(a_.codec->maxEncodedBytes(n, DType::kFloat32));
        w.allGatherRecvs.push_back(a_.world->irecv(peerOf(p, w.slot), tag, w.gathered[p].data(),
                                                   w.gathered[p].size(), a_.deadline));
        interReceived_[1] += w.gathered[p].size();
      }
      if (pr.empty()) continue;
      // The piece's own fp32 values were encoded already: reuse their storage as accumulator.
      float* acc = w.data + (pr.begin - w.range.begin);
      std::fill(acc, acc + pr.size(), 0.0f);
      for (int q = 0; q < C; ++q) {
        const Bytes& msg = q == me() ? w.encoded[q] : w.incoming[q];
        Status s = kernels::decodeAccumulateMessage(msg.data(), msg.size(), acc, pr.size());
        if (!s.ok()) {
          return s.withContext(
              strCat("decoding center ", q, "'s piece from rank ", peerOf(q, w.slot)));
        }
        if (q != me()) Bytes().swap(w.incoming[q]);
      }
      ConstBufferView x(acc, pr.size(), DType::kFloat32);
      w.reduced.resize(a_.codec->maxEncodedBytes(pr.size(), DType::kFloat32));
      Result<size_t> n = a_.residual2 ? a_.codec->encodeWithErrorFeedback(
                                            x, a_.residual2 + L_.residual2Offset(i, w.slot),
                                            w.reduced.data(), w.reduced.size())
                                      : a_.codec->encode(x, w.reduced.data(), w.reduced.size());
      if (!n.ok()) return n.status().withContext("encode for the inter all-gather");
      for (int p = 0; p < C; ++p) {
        if (p == me()) continue;
        c.sends.push_back(a_.world->isend(peerOf(p, w.slot), tag, w.reduced.data(),
                                          w.reduced.size(), a_.deadline));
        interSent_[1] += w.reduced.size();
      }
    }
    mark(c, 2);
    return okStatus();
  }

  // ---- stage C: decode the reduced pieces, round, intra all-gather, release ------------------
  void stageC() {
    while (ChunkPtr c = q2_.pop()) {
      Status s = finish(*c);
      if (!s.ok()) {
        fail(s.withContext(strCat("chunk ", c->index)));
        break;
      }
      std::lock_guard<std::mutex> l(mu_);
      for (auto it = live_.begin(); it != live_.end(); ++it) {
        if (it->get() == c.get()) {
          live_.erase(it);
          break;
        }
      }
      --inFlight_;
      windowCv_.notify_all();
    }
  }

  Status finish(ChunkWork& c) {
    const int C = numCenters();
    const size_t i = c.index;
    for (SlotWork& w : c.slots) {
      {
        StepTimer t(&steps_[kWaitAG]);
        ISTHMUS_RETURN_IF_ERROR(
            waitAll(w.allGatherRecvs, a_.deadline).withContext("inter all-gather receive"));
      }
      mark(c, 3);
      StepTimer t(&steps_[kDecode]);
      for (int p = 0; p < C; ++p) {
        const Range pr = L_.piece(i, w.slot, p);
        if (pr.empty()) continue;
        const Bytes& msg = p == me() ? w.reduced : w.gathered[p];
        BufferView out{w.data + (pr.begin - w.range.begin), pr.size(), DType::kFloat32};
        Status s = kernels::decodeMessage(msg.data(), msg.size(), out);
        if (!s.ok()) {
          return s.withContext(strCat("decoding the reduced piece of rank ", peerOf(p, w.slot)));
        }
      }
    }
    if (a_.op == ReduceOp::kAvg) {
      divideInPlace(c.segmentData, c.segment.size(), static_cast<float>(a_.worldSize));
    }
    if (buf_.dtype != DType::kFloat32) {
      fromFloat(c.segmentData, buf_.slice(c.segment.begin, c.segment.size()));
    }
    if (cma_) {
      StepTimer t(&steps_[kAG]);
      ISTHMUS_RETURN_IF_ERROR(cma_->allGather(buf_, static_cast<uint32_t>(i), L_.localSegments(i))
                                  .withContext("intra all-gather"));
    } else if (a_.intra) {
      RingCall call{a_.intra, a_.sequence, static_cast<uint32_t>(i), a_.deadline, &intraSent_[1]};
      StepTimer t(&steps_[kAG]);
      ISTHMUS_RETURN_IF_ERROR(ringAllGather(call, buf_, L_.localSegments(i)));
    }
    {
      StepTimer t(&steps_[kWaitSends]);
      ISTHMUS_RETURN_IF_ERROR(waitAll(c.sends, a_.deadline).withContext("inter send"));
    }
    mark(c, 4);
    if (traceLevel() > 1) chunkTimes_.push_back(c.times);
    return okStatus();
  }

  const HierAllreduceArgs& a_;
  const HierLayout& L_;
  BufferView buf_;
  ChunkQueue q1_, q2_;
  std::mutex mu_;
  std::condition_variable windowCv_;
  size_t inFlight_ = 0;
  Status error_;
  std::vector<ChunkPtr> live_;
  std::shared_ptr<RingScratch> ring_ = std::make_shared<RingScratch>();
  std::unique_ptr<CmaIntra> cma_;
  // Per stage (A, B/C) so no two threads share a counter.
  uint64_t interSent_[2] = {0, 0};
  uint64_t interReceived_[2] = {0, 0};
  uint64_t intraSent_[2] = {0, 0};
  double steps_[kNumSteps] = {};  // each written by one stage thread only
  Deadline::Clock::time_point start_;
  std::vector<std::array<double, 5>> chunkTimes_;  // written by stage C only

  void mark(ChunkWork& c, int k) {
    if (traceLevel() > 1) c.times[k] = secondsSince(start_) * 1e3;
  }
};

}  // namespace

Status runHierAllreduce(const HierAllreduceArgs& args, BufferView buffer, TrafficStats* traffic) {
  if (args.layout->numChunks() == 0) return okStatus();
  Schedule s(args, buffer);
  return s.run(traffic);
}

}  // namespace isthmus::coll
