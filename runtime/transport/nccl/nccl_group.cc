#include "runtime/transport/nccl/nccl_group.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/core/logging.h"

namespace isthmus {
namespace {

using Clock = Deadline::Clock;

Result<ncclDataType_t> ncclType(DType t) {
  switch (t) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kFloat16: return ncclFloat16;
    case DType::kBFloat16: return ncclBfloat16;
    case DType::kInt8: return ncclInt8;
    case DType::kUInt8: return ncclUint8;
    case DType::kInt32: return ncclInt32;
  }
  return invalidArgumentError("NCCL: unsupported dtype ", static_cast<int>(t));
}

ncclRedOp_t ncclOp(NcclReduceOp op) {
  switch (op) {
    case NcclReduceOp::kSum: return ncclSum;
    case NcclReduceOp::kAvg: return ncclAvg;
    case NcclReduceOp::kMax: return ncclMax;
    case NcclReduceOp::kMin: return ncclMin;
    case NcclReduceOp::kProd: return ncclProd;
  }
  return ncclSum;
}

class NcclRequest : public Request {
 public:
  bool test() override { return done_.load(std::memory_order_acquire); }
  Status wait(Deadline deadline) override {
    std::unique_lock<std::mutex> lock(mu_);
    auto pred = [&] { return done_.load(std::memory_order_relaxed); };
    if (deadline.isInfinite()) {
      cv_.wait(lock, pred);
    } else if (!cv_.wait_until(lock, deadline.when(), pred)) {
      return timeoutError("wait for NCCL ", what, " timed out after ", secondsSince(posted),
                          " s (operation still running)");
    }
    return status_;
  }
  Status status() override {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  bool complete(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_.load(std::memory_order_relaxed)) return false;
    status_ = std::move(st);
    done_.store(true, std::memory_order_release);
    cv_.notify_all();
    return true;
  }

  std::string what;
  Deadline deadline = Deadline::infinite();
  Clock::time_point posted;
  cudaEvent_t event = nullptr;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  Status status_;
};

class NcclGroupImpl : public NcclGroup {
 public:
  explicit NcclGroupImpl(const Options& o) : opt_(o) {}
  ~NcclGroupImpl() override;

  Status init(Deadline deadline);
  int rank() const override { return opt_.rank; }
  int size() const override { return opt_.size; }

  Result<std::shared_ptr<Request>> allReduce(ConstBufferView in, BufferView out, NcclReduceOp op,
                                             StreamHandle stream, Deadline deadline) override {
    if (in.count != out.count || in.dtype != out.dtype) {
      return invalidArgumentError(who(), " allReduce: in ", in.count, " ", dtypeName(in.dtype),
                                  " vs out ", out.count, " ", dtypeName(out.dtype));
    }
    ISTHMUS_ASSIGN_OR_RETURN(ncclDataType_t t, ncclType(in.dtype));
    return issue(strCat("allReduce ", in.bytes(), " bytes"), stream, deadline, [&] {
      return ncclAllReduce(in.data, out.data, in.count, t, ncclOp(op), comm_,
                           static_cast<cudaStream_t>(stream));
    });
  }
  Result<std::shared_ptr<Request>> reduceScatter(ConstBufferView in, BufferView out,
                                                 NcclReduceOp op, StreamHandle stream,
                                                 Deadline deadline) override {
    if (in.count != out.count * static_cast<size_t>(opt_.size) || in.dtype != out.dtype) {
      return invalidArgumentError(who(), " reduceScatter: in has ", in.count, " elements, out ",
                                  out.count, " x ", opt_.size, " ranks");
    }
    ISTHMUS_ASSIGN_OR_RETURN(ncclDataType_t t, ncclType(in.dtype));
    return issue(strCat("reduceScatter ", in.bytes(), " bytes"), stream, deadline, [&] {
      return ncclReduceScatter(in.data, out.data, out.count, t, ncclOp(op), comm_,
                               static_cast<cudaStream_t>(stream));
    });
  }
  Result<std::shared_ptr<Request>> allGather(ConstBufferView in, BufferView out,
                                             StreamHandle stream, Deadline deadline) override {
    if (out.count != in.count * static_cast<size_t>(opt_.size) || in.dtype != out.dtype) {
      return invalidArgumentError(who(), " allGather: out has ", out.count, " elements, in ",
                                  in.count, " x ", opt_.size, " ranks");
    }
    ISTHMUS_ASSIGN_OR_RETURN(ncclDataType_t t, ncclType(in.dtype));
    return issue(strCat("allGather ", out.bytes(), " bytes"), stream, deadline, [&] {
      return ncclAllGather(in.data, out.data, in.count, t, comm_,
                           static_cast<cudaStream_t>(stream));
    });
  }
  Result<std::shared_ptr<Request>> broadcast(BufferView buffer, int root, StreamHandle stream,
                                             Deadline deadline) override {
    if (root < 0 || root >= opt_.size) {
      return invalidArgumentError(who(), " broadcast: root ", root, " outside ", opt_.size);
    }
    ISTHMUS_ASSIGN_OR_RETURN(ncclDataType_t t, ncclType(buffer.dtype));
    return issue(strCat("broadcast ", buffer.bytes(), " bytes from ", root), stream, deadline, [&] {
      return ncclBroadcast(buffer.data, buffer.data, buffer.count, t, root, comm_,
                           static_cast<cudaStream_t>(stream));
    });
  }

  void abort(Status reason) override;
  Status health() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return health_;
  }
  std::string describe() const override {
    int version = 0;
    ncclGetVersion(&version);
    return strCat("nccl ", who(), " device=", opt_.device, " nccl=", version);
  }

 private:
  std::string who() const { return strCat("[nccl rank ", opt_.rank, "/", opt_.size, "]"); }
  // Waits for a non-blocking communicator to leave ncclInProgress.
  ncclResult_t settle(Deadline deadline) {
    ncclResult_t state = ncclInProgress;
    while (true) {
      ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
      if (r != ncclSuccess) return r;
      if (state != ncclInProgress || deadline.expired()) return state;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  template <typename F>
  Result<std::shared_ptr<Request>> issue(const std::string& what, StreamHandle stream,
                                         Deadline deadline, F call);
  void watchdog();
  void abortLocked(const Status& reason);  // mu_ held

  Options opt_;
  ncclComm_t comm_ = nullptr;
  std::mutex issueMu_;
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<NcclRequest>> pending_;
  Status health_;
  bool aborted_ = false;
  std::atomic<bool> stop_{false};
  std::thread watchdog_;
};

Status NcclGroupImpl::init(Deadline deadline) {
  if (opt_.size < 1 || opt_.rank < 0 || opt_.rank >= opt_.size) {
    return invalidArgumentError("NcclGroup: rank ", opt_.rank, " outside ", opt_.size);
  }
  if (!opt_.store) return invalidArgumentError("NcclGroup needs a store");
  if (ncclVisibleDevices() <= opt_.device) {
    return notSupportedError(who(), " CUDA device ", opt_.device, " not available (",
                             ncclVisibleDevices(), " visible)");
  }
  cudaError_t ce = cudaSetDevice(opt_.device);
  if (ce != cudaSuccess) return cudaError(who(), " cudaSetDevice: ", cudaGetErrorString(ce));
  ncclUniqueId id;
  if (opt_.rank == 0) {
    ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) return cudaError(who(), " ncclGetUniqueId: ", ncclGetErrorString(r));
    ISTHMUS_RETURN_IF_ERROR(
        opt_.store->set(opt_.key, std::string(reinterpret_cast<const char*>(&id), sizeof(id))));
  } else {
    auto v = opt_.store->get(opt_.key, deadline);
    if (!v.ok()) return v.status().withContext(strCat(who(), " waiting for the NCCL unique id"));
    if (v->size() != sizeof(id)) {
      return corruptError(who(), " NCCL unique id of ", v->size(), " bytes (expected ", sizeof(id),
                          ")");
    }
    std::memcpy(&id, v->data(), sizeof(id));
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclResult_t r = ncclCommInitRankConfig(&comm_, opt_.size, id, opt_.rank, &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    return cudaError(who(), " ncclCommInitRankConfig: ", ncclGetErrorString(r));
  }
  r = settle(deadline);
  if (r == ncclInProgress) {
    ncclCommAbort(comm_);
    comm_ = nullptr;
    return timeoutError(who(), " ncclCommInitRank did not finish before the deadline (", opt_.size,
                        " ranks): aborted");
  }
  if (r != ncclSuccess) {
    ncclCommAbort(comm_);
    comm_ = nullptr;
    return cudaError(who(), " ncclCommInitRank: ", ncclGetErrorString(r));
  }
  watchdog_ = std::thread([this] { watchdog(); });
  return okStatus();
}

template <typename F>
Result<std::shared_ptr<Request>> NcclGroupImpl::issue(const std::string& what, StreamHandle stream,
                                                      Deadline deadline, F call) {
  std::lock_guard<std::mutex> issueLock(issueMu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!health_.ok()) return health_;
  }
  cudaSetDevice(opt_.device);
  auto req = std::make_shared<NcclRequest>();
  req->what = strCat(what, " on rank ", opt_.rank);
  req->deadline = deadline;
  req->posted = Clock::now();
  ncclResult_t r = call();
  if (r == ncclInProgress) r = settle(deadline);
  if (r != ncclSuccess) {
    Status st = r == ncclInProgress
                    ? timeoutError(who(), " ", what, " could not be enqueued before the deadline")
                    : cudaError(who(), " ", what, ": ", ncclGetErrorString(r));
    abort(st);
    return st;
  }
  cudaError_t ce = cudaEventCreateWithFlags(&req->event, cudaEventDisableTiming);
  if (ce == cudaSuccess) ce = cudaEventRecord(req->event, static_cast<cudaStream_t>(stream));
  if (ce != cudaSuccess) return cudaError(who(), " ", what, ": event: ", cudaGetErrorString(ce));
  std::lock_guard<std::mutex> lock(mu_);
  pending_.push_back(req);
  return std::shared_ptr<Request>(req);
}

void NcclGroupImpl::watchdog() {
  cudaSetDevice(opt_.device);
  auto interval = std::chrono::duration<double>(opt_.pollIntervalSeconds);
  while (!stop_.load()) {
    std::this_thread::sleep_for(interval);
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_) continue;
    for (size_t i = 0; i < pending_.size();) {
      auto& req = pending_[i];
      cudaError_t q = cudaEventQuery(req->event);
      if (q == cudaSuccess || q != cudaErrorNotReady) {
        cudaEventDestroy(req->event);
        req->complete(q == cudaSuccess
                          ? okStatus()
                          : cudaError(who(), " ", req->what, ": ", cudaGetErrorString(q)));
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      if (req->deadline.expired()) {
        abortLocked(timeoutError(who(), " ", req->what, " still running after ",
                                 secondsSince(req->posted), " s: communicator aborted"));
        break;
      }
      ++i;
    }
    if (aborted_) continue;
    ncclResult_t state = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &state) == ncclSuccess && state != ncclSuccess &&
        state != ncclInProgress) {
      abortLocked(cudaError(who(), " NCCL asynchronous error: ", ncclGetErrorString(state), " (",
                            ncclGetLastError(comm_), ")"));
    }
  }
}

void NcclGroupImpl::abortLocked(const Status& reason) {
  if (aborted_) return;
  aborted_ = true;
  health_ = reason;
  ISTHMUS_LOG(kError) << reason.message();
  if (comm_) ncclCommAbort(comm_);
  comm_ = nullptr;
  for (auto& req : pending_) req->complete(reason);  // events leak deliberately: the stream
  pending_.clear();                                  // may never reach them after an abort
}

void NcclGroupImpl::abort(Status reason) {
  if (reason.ok()) reason = abortedError(who(), " abort() called");
  std::lock_guard<std::mutex> lock(mu_);
  abortLocked(reason);
}

NcclGroupImpl::~NcclGroupImpl() {
  stop_.store(true);
  if (watchdog_.joinable()) watchdog_.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& req : pending_) {
    req->complete(abortedError(who(), " group destroyed with ", req->what, " pending"));
  }
  if (!comm_) return;
  if (!pending_.empty()) {
    ncclCommAbort(comm_);
    return;
  }
  cudaSetDevice(opt_.device);
  ncclResult_t r = ncclCommFinalize(comm_);
  if (r == ncclSuccess || r == ncclInProgress) r = settle(Deadline::afterSeconds(10));
  if (r == ncclSuccess) {
    ncclCommDestroy(comm_);
  } else {
    ncclCommAbort(comm_);
  }
}

}  // namespace

int ncclVisibleDevices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

Result<std::unique_ptr<NcclGroup>> NcclGroup::create(const Options& options, Deadline deadline) {
  auto g = std::make_unique<NcclGroupImpl>(options);
  ISTHMUS_RETURN_IF_ERROR(g->init(deadline));
  return std::unique_ptr<NcclGroup>(std::move(g));
}

}  // namespace isthmus
