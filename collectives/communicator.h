// Communicator: the public C++ API of Isthmus. One per process (rank); it owns the intra-center
// group, the inter-center channels, the error-feedback state and a progress engine.
//
// Collectives are asynchronous: each call returns a Work at once and runs in the communicator's
// own threads. Calls are matched across ranks by order: every rank must issue the same
// collectives in the same order (each gets a sequence number); a mismatch (size, dtype, op, codec
// for the same sequence number) is detected and fails the Work on every rank with a message
// naming the ranks that disagree. Buffers must stay alive and untouched until the Work completes.
// All methods are thread-safe, but issuing order across threads is the caller's to define.
//
// Allreduce is hierarchical: intra-center reduce-scatter -> compressed inter-center exchange of
// each shard (every local rank drives its own WAN stream) -> intra-center all-gather, pipelined in
// chunks. Results are bitwise identical on every rank.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/core/buffer.h"
#include "runtime/core/deadline.h"
#include "runtime/core/status.h"

namespace isthmus {

class Store;
class Topology;
struct Identity;

namespace coll {

enum class ReduceOp : uint8_t { kSum = 0, kAvg = 1 };
const char* reduceOpName(ReduceOp op);
Result<ReduceOp> parseReduceOp(const std::string& name);  // "sum", "avg"/"mean"

// Counters a Work or a Communicator reports (cumulative for a Communicator).
struct TrafficStats {
  uint64_t interBytesSent = 0;  // payload bytes this rank sent to other centers
  uint64_t interBytesReceived = 0;
  uint64_t intraBytesSent = 0;
};

class Work {
 public:
  virtual ~Work() = default;
  virtual bool isCompleted() = 0;
  // Waits until the collective completes or the deadline passes (kTimeout; the collective keeps
  // running and may still complete). Returns the collective's final status once complete.
  virtual Status wait(Deadline deadline) = 0;
  Status wait() { return wait(Deadline::infinite()); }
  // The final status once completed; kOk-but-not-completed is reported as isCompleted()==false.
  virtual Status status() = 0;
  // Fails the collective (and with it the communicator, since ranks can no longer agree).
  virtual void abort(Status reason) = 0;
  virtual TrafficStats traffic() = 0;
  virtual uint64_t sequenceNumber() const = 0;
};

struct CollectiveOptions {
  // Codec between centers: "" = the communicator's default; "fp32" exact; "fp16", "bf16",
  // "int8[:block=N]", "int4[:block=N]", "fp8", "topk:fraction=F".
  std::string interCodec;
  // Codec inside a center: "" = default (exact).
  std::string intraCodec;
  // Error-feedback state is kept per key and survives across calls; lossy codecs need a key
  // (a tensor name, a DDP bucket index). Empty: no error feedback.
  std::string errorFeedbackKey;
  // 0 = the communicator's default timeout.
  double timeoutSeconds = 0;
  // CUDA stream for GPU buffers (nullptr = default stream); ignored for host buffers.
  StreamHandle stream = nullptr;
};

struct CommunicatorOptions {
  double timeoutSeconds = 300;
  std::string interCodec = "int8";
  std::string intraCodec = "fp32";
  int lanesPerPeer = 0;           // 0 = from the topology link, else a default
  size_t pipelineChunkBytes = 0;  // 0 = chosen from the link's bandwidth-delay product
  // Sends to another center are paced at this fraction of this rank's share of the topology's
  // link rate (payload bytes: the rest is for TCP/IP headers, the other direction's
  // acknowledgements and jitter); 0 = not paced. Only for links the topology declares.
  // ISTHMUS_PACING=off|<fraction> overrides it.
  double pacingFraction = 0.85;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  // From the environment (isthmus-run, torchrun, SLURM): identity, topology and store.
  static Result<std::shared_ptr<Communicator>> fromEnv(const CommunicatorOptions& options);
  static Result<std::shared_ptr<Communicator>> create(const Identity& identity,
                                                      const Topology& topology,
                                                      std::shared_ptr<Store> store,
                                                      const CommunicatorOptions& options);

  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  virtual int center() const = 0;
  virtual int numCenters() const = 0;
  virtual int localRank() const = 0;
  virtual int localWorldSize() const = 0;
  virtual const Topology& topology() const = 0;

  // In place. fp32, fp16 or bf16. kAvg divides by the number of contributing ranks.
  virtual std::shared_ptr<Work> allreduce(BufferView buffer, ReduceOp op,
                                          const CollectiveOptions& options) = 0;
  // input has worldSize * output.count elements; rank r gets slice r, reduced.
  virtual std::shared_ptr<Work> reduceScatter(ConstBufferView input, BufferView output, ReduceOp op,
                                              const CollectiveOptions& options) = 0;
  // output has worldSize * input.count elements, slice r from rank r.
  virtual std::shared_ptr<Work> allGather(ConstBufferView input, BufferView output,
                                          const CollectiveOptions& options) = 0;
  virtual std::shared_ptr<Work> broadcast(BufferView buffer, int root,
                                          const CollectiveOptions& options) = 0;
  virtual std::shared_ptr<Work> barrier(const CollectiveOptions& options) = 0;

  // A readable description of the plan allreduce would run for this size and options.
  virtual std::string describe(size_t count, DType dtype, const CollectiveOptions& options) = 0;
  virtual TrafficStats traffic() = 0;
  // Fails every pending and future collective with `reason`.
  virtual void abort(Status reason) = 0;
};

}  // namespace coll
}  // namespace isthmus
