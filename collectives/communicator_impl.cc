#include "collectives/communicator_impl.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "collectives/algorithms.h"
#include "collectives/cma_intra.h"
#include "collectives/descriptor.h"
#include "collectives/device_staging.h"
#include "collectives/hier_allreduce.h"
#include "collectives/hier_layout.h"
#include "collectives/leader_collectives.h"
#include "collectives/peer_notices.h"
#include "collectives/plan_description.h"
#include "collectives/tags.h"
#include "collectives/work.h"
#include "kernels/codec.h"
#include "kernels/cuda_codecs.h"
#include "runtime/core/format.h"
#include "runtime/core/logging.h"

namespace isthmus::coll {

const char* reduceOpName(ReduceOp op) { return op == ReduceOp::kAvg ? "avg" : "sum"; }

Result<ReduceOp> parseReduceOp(const std::string& name) {
  if (name == "sum") return ReduceOp::kSum;
  if (name == "avg" || name == "mean") return ReduceOp::kAvg;
  return invalidArgumentError("unknown reduce op '", name, "' (expected sum, avg or mean)");
}

namespace {

constexpr size_t kDefaultChunkBytes = 4u << 20;
// Tensor bytes in flight through the pipeline: at int8 that is ~16 MiB on the wire per rank, more
// than a 1 Gbit/s x 40 ms bandwidth-delay product, and ~20 MiB of scratch for fp32 tensors.
constexpr size_t kWindowBytes = 64u << 20;

struct EfState {
  size_t count = 0;
  std::string codec;
  size_t chunkElems = 0;
  std::vector<float> r1, r2;
};

class CommunicatorImpl : public Communicator,
                         public std::enable_shared_from_this<CommunicatorImpl> {
 public:
  CommunicatorImpl(int rank, const Topology& topology, std::unique_ptr<Transport> intra,
                   std::unique_ptr<Transport> world, const CommunicatorOptions& options)
      : topology_(topology),
        rank_(rank),
        center_(topology.centerOf(rank)),
        local_(topology.localRank(rank)),
        intra_(std::move(intra)),
        world_(std::move(world)),
        options_(options) {}

  ~CommunicatorImpl() override { shutdown(); }

  Status start() {
    if (intra_) {
      auto cma = probeCma(intra_.get(), Deadline::afterSeconds(options_.timeoutSeconds));
      if (!cma.ok()) return cma.status().withContext(strCat(who(), " intra tier"));
      intraCma_ = *cma;
    }
    if (Transport* nt = noticeTransport()) {
      PeerNotices::Callbacks cb;
      cb.onGoodbye = [this, nt](int peer) { expectDeparture(nt, peer); };
      cb.onFailure = [this](const Status& why) { fail(why); };
      cb.failed = [this] { return !failure().ok(); };
      notices_ = std::make_unique<PeerNotices>(nt, noticeTag(), who(), std::move(cb));
    }
    executor_ = std::thread([this] { executorLoop(); });
    return okStatus();
  }

  int rank() const override { return rank_; }
  int worldSize() const override { return topology_.worldSize(); }
  int center() const override { return center_; }
  int numCenters() const override { return topology_.numCenters(); }
  int localRank() const override { return local_; }
  int localWorldSize() const override { return topology_.centerSize(center_); }
  const Topology& topology() const override { return topology_; }

  std::shared_ptr<Work> allreduce(BufferView buffer, ReduceOp op,
                                  const CollectiveOptions& options) override {
    CollDescriptor d = baseDescriptor(CollKind::kAllreduce, buffer.count, buffer.dtype, options);
    d.op = static_cast<uint32_t>(op);
    Status valid = validateAllreduce(buffer, options);
    return enqueue(d, valid, options, strCat("allreduce ", humanBytes(buffer.bytes())),
                   [this, buffer, op, options](uint64_t seq, Deadline dl, TrafficStats* tr) {
                     return runAllreduce(buffer, op, options, seq, dl, tr);
                   });
  }

  std::shared_ptr<Work> reduceScatter(ConstBufferView input, BufferView output, ReduceOp op,
                                      const CollectiveOptions& options) override {
    CollDescriptor d =
        baseDescriptor(CollKind::kReduceScatter, output.count, output.dtype, options);
    d.op = static_cast<uint32_t>(op);
    Status valid = validateAllreduce(output, options);
    if (valid.ok() && (input.count != output.count * worldSize() || input.dtype != output.dtype)) {
      valid = invalidArgumentError("reduce_scatter: input must hold worldSize (", worldSize(),
                                   ") x output.count (", output.count,
                                   ") elements of the output's dtype; got ", input.count, " ",
                                   dtypeName(input.dtype));
    }
    if (valid.ok()) valid = stageable("reduce_scatter", input, output);
    return enqueue(d, valid, options, strCat("reduce_scatter ", humanBytes(input.bytes())),
                   [this, input, output, op, options](uint64_t seq, Deadline dl, TrafficStats* tr) {
                     return staging_.run(
                         input, output, options.stream, "reduce_scatter",
                         [&](ConstBufferView in, BufferView out) {
                           // Allreduce a copy, keep this rank's slice (one copy of the input).
                           std::vector<uint8_t> tmp(in.bytes());
                           if (!tmp.empty()) std::memcpy(tmp.data(), in.data, tmp.size());
                           BufferView all{tmp.data(), in.count, in.dtype, MemoryKind::kHost};
                           ISTHMUS_RETURN_IF_ERROR(runAllreduce(all, op, options, seq, dl, tr));
                           if (out.bytes()) {
                             std::memcpy(out.data, tmp.data() + out.bytes() * rank_, out.bytes());
                           }
                           return okStatus();
                         });
                   });
  }

  std::shared_ptr<Work> allGather(ConstBufferView input, BufferView output,
                                  const CollectiveOptions& options) override {
    CollDescriptor d = baseDescriptor(CollKind::kAllGather, input.count, input.dtype, options);
    Status valid = stageable("all_gather", input, output);
    if (valid.ok() && (output.count != input.count * worldSize() || output.dtype != input.dtype)) {
      valid = invalidArgumentError("all_gather: output must hold worldSize (", worldSize(),
                                   ") x input.count (", input.count, ") elements of ",
                                   dtypeName(input.dtype), "; got ", output.count, " ",
                                   dtypeName(output.dtype));
    }
    return enqueue(d, valid, options, strCat("all_gather ", humanBytes(output.bytes())),
                   [this, input, output, options](uint64_t seq, Deadline dl, TrafficStats* tr) {
                     LeaderCall c = leaderCall(seq, dl, tr);
                     return staging_.run(input, output, options.stream, "all_gather",
                                         [&](ConstBufferView in, BufferView out) {
                                           return leaderAllGather(c, in, out);
                                         });
                   });
  }

  std::shared_ptr<Work> broadcast(BufferView buffer, int root,
                                  const CollectiveOptions& options) override {
    CollDescriptor d = baseDescriptor(CollKind::kBroadcast, buffer.count, buffer.dtype, options);
    d.root = root;
    Status valid;
    if (root < 0 || root >= worldSize()) {
      valid =
          invalidArgumentError("broadcast root ", root, " is not a rank of 0..", worldSize() - 1);
    } else {
      valid = stageable("broadcast", buffer, buffer);
    }
    return enqueue(d, valid, options, strCat("broadcast ", humanBytes(buffer.bytes())),
                   [this, buffer, root, options](uint64_t seq, Deadline dl, TrafficStats* tr) {
                     LeaderCall c = leaderCall(seq, dl, tr);
                     return staging_.run(buffer, buffer, options.stream, "broadcast",
                                         [&](ConstBufferView, BufferView b) {
                                           return leaderBroadcast(c, b, root);
                                         });
                   });
  }

  std::shared_ptr<Work> barrier(const CollectiveOptions& options) override {
    CollDescriptor d = baseDescriptor(CollKind::kBarrier, 0, DType::kFloat32, options);
    return enqueue(d, okStatus(), options, "barrier",
                   [](uint64_t, Deadline, TrafficStats*) { return okStatus(); });
  }

  std::string describe(size_t count, DType dtype, const CollectiveOptions& options) override;

  TrafficStats traffic() override {
    std::lock_guard<std::mutex> l(mu_);
    return traffic_;
  }

  void abort(Status reason) override {
    if (reason.ok()) reason = abortedError(who(), " communicator aborted by the caller");
    fail(reason);
  }

 private:
  using Fn = std::function<Status(uint64_t, Deadline, TrafficStats*)>;
  struct Op {
    std::shared_ptr<WorkImpl> work;
    CollDescriptor descriptor;
    Status valid;
    double timeout = 0;
    std::string what;
    Fn fn;
  };

  std::string who() const {
    return strCat("[rank ", rank_, "/", worldSize(), " center ", center_, "]");
  }
  Transport* noticeTransport() const { return world_ ? world_.get() : intra_.get(); }
  static uint64_t noticeTag() { return collTag(kControlSequence, kPhaseControl, 0, 0); }
  std::string interCodecText(const CollectiveOptions& o) const {
    return o.interCodec.empty() ? options_.interCodec : o.interCodec;
  }
  std::string intraCodecText(const CollectiveOptions& o) const {
    return o.intraCodec.empty() ? options_.intraCodec : o.intraCodec;
  }
  size_t chunkElems(DType dtype) const {
    size_t bytes = options_.pipelineChunkBytes ? options_.pipelineChunkBytes : kDefaultChunkBytes;
    return std::max<size_t>(1, bytes / dtypeSize(dtype));
  }

  size_t windowChunks(DType dtype) const {
    const size_t chunkBytes = chunkElems(dtype) * dtypeSize(dtype);
    return std::max<size_t>(4, (kWindowBytes + chunkBytes - 1) / chunkBytes);
  }

  CollDescriptor baseDescriptor(CollKind kind, size_t count, DType dtype,
                                const CollectiveOptions& o) const {
    CollDescriptor d;
    d.kind = static_cast<uint32_t>(kind);
    d.count = count;
    d.dtype = static_cast<uint32_t>(dtype);
    if (kind == CollKind::kAllreduce || kind == CollKind::kReduceScatter) {
      auto spec = kernels::parseCodecSpec(interCodecText(o));
      d.interCodecHash = hashString(spec.ok() ? spec->toString() : interCodecText(o));
      d.intraCodecHash = hashString(intraCodecText(o));
    }
    return d;
  }

  Status validateAllreduce(const BufferView& b, const CollectiveOptions& o) const {
    const bool cuda = b.memory == MemoryKind::kCuda && kernels::cuda::available();
    AllreduceQuery q{b.count, b.dtype, b.memory, numCenters(), worldSize(), cuda};
    auto alg = selectAllreduce(q);
    if (!alg.ok()) return alg.status();
    if (b.count && !b.data) return invalidArgumentError("allreduce: null buffer of ", b.count);
    auto spec = kernels::parseCodecSpec(interCodecText(o));
    if (!spec.ok()) return spec.status().withContext("inter-center codec");
    auto intra = kernels::parseCodecSpec(intraCodecText(o));
    if (!intra.ok()) return intra.status().withContext("intra-center codec");
    if (intra->id != kernels::CodecId::kFp32) {
      return notSupportedError("intra-center codec '", intraCodecText(o),
                               "': only exact (fp32) reduction inside a center is implemented");
    }
    return okStatus();
  }

  // GPU buffers run staged through pinned host memory (collectives/device_staging.h) where that is
  // possible; otherwise the call is refused with the reason.
  static Status stageable(const char* what, ConstBufferView in, ConstBufferView out) {
    if (!in.onDevice() && !out.onDevice()) return okStatus();
    std::string why = gpuStagingUnavailable();
    if (why.empty()) return okStatus();
    return notSupportedError(what, " of GPU buffers: ", why);
  }

  LeaderCall leaderCall(uint64_t seq, Deadline dl, TrafficStats* tr) {
    LeaderCall c;
    c.topology = &topology_;
    c.rank = rank_;
    c.intra = intra_.get();
    c.world = world_.get();
    c.sequence = seq;
    c.deadline = dl;
    c.interBytesSent = &tr->interBytesSent;
    c.intraBytesSent = &tr->intraBytesSent;
    return c;
  }

  std::shared_ptr<Work> enqueue(CollDescriptor d, Status valid, const CollectiveOptions& o,
                                std::string what, Fn fn) {
    std::lock_guard<std::mutex> l(mu_);
    const uint64_t seq = ++sequence_;
    d.sequence = seq;
    if (!valid.ok()) d.kind |= 0x80000000u;  // others see the mismatch and fail too
    std::weak_ptr<CommunicatorImpl> weak = weak_from_this();
    auto work = std::make_shared<WorkImpl>(seq, [weak](Status s) {
      if (auto self = weak.lock()) self->fail(s);
    });
    Op op{work,
          d,
          valid,
          o.timeoutSeconds > 0 ? o.timeoutSeconds : options_.timeoutSeconds,
          std::move(what),
          std::move(fn)};
    if (stopping_) {
      work->complete(abortedError(who(), " communicator is shutting down"), {});
      return work;
    }
    queue_.push_back(std::move(op));
    cv_.notify_all();
    return work;
  }

  void executorLoop() {
    for (;;) {
      Op op;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        op = std::move(queue_.front());
        queue_.pop_front();
      }
      const std::string ctx = strCat(who(), " ", op.what, " seq=", op.descriptor.sequence);
      Status failed = failure();
      if (!failed.ok()) {
        op.work->complete(failed.withContext(ctx + ": communicator failed earlier"), {});
        continue;
      }
      const auto start = Deadline::Clock::now();
      Deadline dl = Deadline::afterSeconds(op.timeout);
      TrafficStats tr;
      DescriptorExchange ex{&topology_, rank_, intra_.get(), world_.get(), dl};
      Status s = exchangeAndCheck(ex, op.descriptor);
      bool commFault = false;
      if (!s.ok() && s.code() != StatusCode::kInvalidArgument) {
        commFault = true;
      } else if (s.ok() && !op.valid.ok()) {
        s = op.valid;
      } else if (s.ok()) {
        paceFor(static_cast<CollKind>(op.descriptor.kind));
        s = op.fn(op.descriptor.sequence, dl, &tr);
        commFault = !s.ok();
      } else if (!op.valid.ok()) {
        s = Status(s.code(), s.message() + " (this rank: " + op.valid.message() + ")");
      }
      if (commFault) {
        Status why = failure();
        if (why.ok()) {
          fail(s.withContext(ctx));
          why = failure();
        }
        // Report the communicator's failure (the root cause, e.g. which peer was lost), with
        // how long this collective ran.
        s = Status(why.code(),
                   strCat(ctx, ": ", why.message(), " (after ", secondsSince(start), " s)"));
      } else if (!s.ok()) {
        s = s.withContext(ctx);
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        traffic_.interBytesSent += tr.interBytesSent;
        traffic_.interBytesReceived += tr.interBytesReceived;
        traffic_.intraBytesSent += tr.intraBytesSent;
      }
      op.work->complete(s, tr);
    }
  }

  Status runAllreduce(BufferView buffer, ReduceOp op, const CollectiveOptions& o, uint64_t seq,
                      Deadline dl, TrafficStats* tr) {
    if (buffer.onDevice()) {  // hier_staged_gpu (collectives/algorithms.cc)
      return staging_.run(
          buffer, buffer, o.stream, "allreduce",
          [&](ConstBufferView, BufferView host) { return runAllreduce(host, op, o, seq, dl, tr); });
    }
    const int C = numCenters();
    std::vector<int> sizes = topology_.centerSizes();
    HierLayout layout(sizes, center_, local_, buffer.count, chunkElems(buffer.dtype));
    std::optional<kernels::Codec> codec;
    EfState* ef = nullptr;
    if (C > 1) {
      ISTHMUS_ASSIGN_OR_RETURN(kernels::Codec cd, kernels::Codec::create(interCodecText(o)));
      codec = cd;
      if (!o.errorFeedbackKey.empty() && cd.id() != kernels::CodecId::kFp32) {
        ISTHMUS_ASSIGN_OR_RETURN(ef, efState(o.errorFeedbackKey, layout, cd.spec().toString()));
      }
    }
    HierAllreduceArgs a;
    a.topology = &topology_;
    a.intra = intra_.get();
    a.intraCma = intraCma_;
    a.world = world_.get();
    a.layout = &layout;
    a.codec = codec ? &*codec : nullptr;
    a.residual1 = ef ? ef->r1.data() : nullptr;
    a.residual2 = ef ? ef->r2.data() : nullptr;
    a.op = op;
    a.worldSize = worldSize();
    a.windowChunks = windowChunks(buffer.dtype);
    a.sequence = seq;
    a.deadline = dl;
    a.onError = [this](const Status& s) { fail(s); };
    a.park = [this](std::shared_ptr<void> p) {
      std::lock_guard<std::mutex> l(mu_);
      graveyard_.push_back(std::move(p));
    };
    return runHierAllreduce(a, buffer, tr);
  }

  Result<EfState*> efState(const std::string& key, const HierLayout& layout,
                           const std::string& codec) {
    std::lock_guard<std::mutex> l(mu_);
    EfState& s = ef_[key];
    if (s.r1.empty() && s.r2.empty() && s.count == 0) {
      s.count = layout.count();
      s.codec = codec;
      s.chunkElems = layout.chunkElems();
      s.r1.assign(layout.residual1Size(), 0.0f);
      s.r2.assign(layout.residual2Size(), 0.0f);
    } else if (s.count != layout.count() || s.codec != codec ||
               s.chunkElems != layout.chunkElems()) {
      return invalidArgumentError("error-feedback key '", key, "' holds state for ", s.count,
                                  " elements with codec ", s.codec, "; this call has ",
                                  layout.count(), " elements with codec ", codec,
                                  " (use one key per tensor)");
    }
    return &s;
  }

  Status failure() {
    std::lock_guard<std::mutex> l(mu_);
    return failed_;
  }

  // Fails the communicator once: tell every peer, then abort the transports.
  // The intra group's transport names peers by local rank; say which global ranks those are.
  Status withRankMap(const Status& s) const {
    if (!intra_ || s.code() != StatusCode::kPeerLost ||
        s.message().find("intra group of center") != std::string::npos) {
      return s;
    }
    std::string map = strCat(" [intra group of center ", center_, ":");
    const int k = topology_.centerSize(center_), first = topology_.firstRank(center_);
    for (int l = 0; l < std::min(k, 16); ++l)
      map += strCat(" local rank ", l, " = rank ", first + l, l + 1 < k ? "," : "");
    if (k > 16) map += " ...";
    return Status(s.code(), s.message() + map + "]");
  }

  void fail(const Status& original) {
    const Status s = withRankMap(original);
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!failed_.ok()) return;
      failed_ = s;
    }
    ISTHMUS_LOG(kWarn) << who() << " communicator failed: " << s.toString();
    if (notices_) notices_->sendFailure(s);
    if (world_) world_->abort(s);
    if (intra_) intra_->abort(s);
  }

  // `peer` (numbered in the notice transport) said goodbye: its connections closing are expected,
  // on the notice transport and, for a peer of this center, on the intra group.
  void expectDeparture(Transport* nt, int peer) {
    nt->expectDeparture(peer);
    if (intra_ && nt != intra_.get() && topology_.centerOf(peer) == center_) {
      intra_->expectDeparture(peer - topology_.firstRank(center_));
    }
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    if (executor_.joinable()) executor_.join();
    // After our goodbye, wait (briefly) for every peer's, so that no rank closes its connections
    // while another still takes that for a failure. Peers that never say goodbye (they failed, or
    // left without shutting down) cost at most the grace period.
    if (notices_) {
      if (failure().ok()) notices_->leave(3.0);
      notices_->stop();  // joins the watcher, which may call fail()
    }
    notices_.reset();
    world_.reset();
    intra_.reset();
    graveyard_.clear();
    staging_.release();  // after the transports: nothing reads it any more
  }

  // Sends to another center are paced below this rank's share of the declared link: in the
  // hierarchical allreduce every rank of the center drives its own stream over it, in the
  // leader collectives one rank does. Keeping under the link's rate keeps its queue from
  // overflowing (docs/BENCHMARKS.md, "Pacing": without it, loss and recovery on a 40 ms link
  // made the int8 allreduce 1.2-1.5x slower and its time vary by 2x).
  void paceFor(CollKind kind) {
    const double fraction = options_.pacingFraction;
    if (!world_ || fraction <= 0) return;
    const bool everyRank = kind == CollKind::kAllreduce || kind == CollKind::kReduceScatter;
    const int sharers = everyRank ? topology_.centerSize(center_) : 1;
    for (int q = 0; q < worldSize(); ++q) {
      const int c = topology_.centerOf(q);
      if (c == center_) continue;
      auto link = topology_.link(center_, c);
      if (!link) continue;
      world_->setSendRate(q, link->bytesPerSecond() * fraction / sharers);
    }
  }

  const Topology topology_;
  const int rank_, center_, local_;
  std::unique_ptr<Transport> intra_, world_;
  const CommunicatorOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_;
  uint64_t sequence_ = 0;
  bool stopping_ = false;
  Status failed_;
  TrafficStats traffic_;
  std::map<std::string, EfState> ef_;
  std::vector<std::shared_ptr<void>> graveyard_;
  std::unique_ptr<PeerNotices> notices_;
  DeviceStaging staging_;  // pinned host copies of GPU buffers (executor thread only)
  std::thread executor_;
  bool intraCma_ = false;
};

std::string CommunicatorImpl::describe(size_t count, DType dtype, const CollectiveOptions& o) {
  PlanInputs in;
  in.topology = &topology_;
  in.center = center_;
  in.local = local_;
  in.intraCma = intraCma_;
  in.count = count;
  in.dtype = dtype;
  in.chunkElems = chunkElems(dtype);
  in.windowChunks = windowChunks(dtype);
  in.who = who();
  in.interCodec = interCodecText(o);
  in.errorFeedbackKey = o.errorFeedbackKey;
  in.pacingFraction = options_.pacingFraction;
  in.intra = intra_.get();
  in.world = world_.get();
  return describeAllreducePlan(in);
}

}  // namespace

Result<std::shared_ptr<Communicator>> createFromTransports(int rank, const Topology& topology,
                                                           std::unique_ptr<Transport> intra,
                                                           std::unique_ptr<Transport> world,
                                                           const CommunicatorOptions& options) {
  if (rank < 0 || rank >= topology.worldSize()) {
    return invalidArgumentError("rank ", rank, " outside the topology's ", topology.worldSize(),
                                " ranks");
  }
  const int c = topology.centerOf(rank);
  if (topology.centerSize(c) > 1 && (!intra || intra->size() != topology.centerSize(c) ||
                                     intra->rank() != topology.localRank(rank))) {
    return invalidArgumentError("rank ", rank, ": the intra transport must be the center's group");
  }
  if (topology.numCenters() > 1 &&
      (!world || world->size() != topology.worldSize() || world->rank() != rank)) {
    return invalidArgumentError("rank ", rank, ": the world transport must span every rank");
  }
  CommunicatorOptions opts = options;
  if (const char* pace = std::getenv("ISTHMUS_PACING"); pace && *pace) {
    char* end = nullptr;
    const double f = std::strtod(pace, &end);
    if (std::string(pace) == "off") {
      opts.pacingFraction = 0;
    } else if (end == pace || *end != '\0' || !(f > 0 && f <= 1)) {
      return invalidArgumentError("ISTHMUS_PACING='", pace, "': use off or a fraction in (0, 1]");
    } else {
      opts.pacingFraction = f;
    }
  }
  if (!(opts.pacingFraction >= 0 && opts.pacingFraction <= 1)) {
    return invalidArgumentError("pacingFraction ", opts.pacingFraction, " outside [0, 1]");
  }
  auto comm =
      std::make_shared<CommunicatorImpl>(rank, topology, std::move(intra), std::move(world), opts);
  ISTHMUS_RETURN_IF_ERROR(comm->start());
  return std::shared_ptr<Communicator>(comm);
}

}  // namespace isthmus::coll
