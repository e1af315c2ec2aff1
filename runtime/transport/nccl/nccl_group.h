// NcclGroup: the collectives among the GPUs of one center, over NCCL.
//
// Unlike Transport (point-to-point bytes), this seam is collective and stream-ordered: each call
// enqueues one NCCL collective on the caller's CUDA stream and returns a Request that completes
// when the stream has run it. Buffers are device memory (or anything NCCL accepts) and belong to
// the caller until the Request completes.
//
// Creation: rank 0 makes the NCCL unique id and publishes it in the store under `key`; every rank
// calls ncclCommInitRank (non-blocking mode, so creation honours its Deadline and a stuck init is
// aborted). Faults: a watchdog thread polls ncclCommGetAsyncError and each pending operation's
// completion event; an asynchronous NCCL error, or an operation still running at its deadline,
// calls ncclCommAbort, fails every pending Request (kCudaError / kTimeout naming the operation)
// and makes later calls fail. abort() does the same on demand. No hang: every wait has a deadline.
//
// Thread safety: calls may come from any thread; collectives are serialised by an internal mutex
// (NCCL requires one issuing order per communicator). This header needs no CUDA include.
#pragma once

#include <memory>
#include <string>

#include "runtime/core/buffer.h"
#include "runtime/core/deadline.h"
#include "runtime/core/status.h"
#include "runtime/store/store.h"
#include "runtime/transport/transport.h"

namespace isthmus {

enum class NcclReduceOp { kSum, kAvg, kMax, kMin, kProd };

class NcclGroup {
 public:
  struct Options {
    int rank = 0;
    int size = 1;
    int device = 0;  // CUDA device ordinal this rank uses
    std::shared_ptr<Store> store;
    std::string key = "nccl/uid";  // store key of the unique id (unique per communicator)
    double pollIntervalSeconds = 0.001;
  };

  static Result<std::unique_ptr<NcclGroup>> create(const Options& options, Deadline deadline);
  virtual ~NcclGroup() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // out[i] = op over ranks of in[i]; in and out have the same count and dtype (may alias).
  virtual Result<std::shared_ptr<Request>> allReduce(ConstBufferView in, BufferView out,
                                                     NcclReduceOp op, StreamHandle stream,
                                                     Deadline deadline) = 0;
  // in has size() * out.count elements; rank r gets the reduction of slice r.
  virtual Result<std::shared_ptr<Request>> reduceScatter(ConstBufferView in, BufferView out,
                                                         NcclReduceOp op, StreamHandle stream,
                                                         Deadline deadline) = 0;
  // out has size() * in.count elements; slice r comes from rank r.
  virtual Result<std::shared_ptr<Request>> allGather(ConstBufferView in, BufferView out,
                                                     StreamHandle stream, Deadline deadline) = 0;
  // buffer on `root` is copied to every rank's buffer.
  virtual Result<std::shared_ptr<Request>> broadcast(BufferView buffer, int root,
                                                     StreamHandle stream, Deadline deadline) = 0;

  // ncclCommAbort, fail every pending Request with `reason`. Idempotent.
  virtual void abort(Status reason) = 0;
  virtual Status health() const = 0;
  virtual std::string describe() const = 0;
};

// Number of CUDA devices visible, 0 when there is no driver or no device (never an error).
int ncclVisibleDevices();

}  // namespace isthmus
