// Collectives on GPU buffers through page-locked host memory (the "staged" paths): a GPU view is
// copied to pinned host memory on the caller's stream, after the work already queued there (e.g.
// the backward pass that wrote a gradient); the host implementation runs on the copy; the result
// is copied back on the same stream. Each copy synchronises that stream (kernels/cuda_staging.h),
// so when a staged collective completes its result is in the caller's GPU buffer.
//
// One grow-only pinned buffer per communicator, used by its executor thread only. In a build
// without CUDA, or with no GPU visible, gpuStagingUnavailable() says so and the communicator
// refuses GPU buffers with kNotSupported before anything runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "runtime/core/buffer.h"
#include "runtime/core/status.h"

namespace isthmus::coll {

// "" when GPU buffers can be staged in this process; otherwise why not.
std::string gpuStagingUnavailable();

// How pinned memory is obtained and bytes move between it and a GPU: the CUDA runtime
// (kernels/cuda_staging.h) by default; the unit tests substitute host memory and memcpy.
struct StagingCopier {
  std::function<Result<void*>(size_t bytes)> allocPinned;
  std::function<void(void*)> freePinned;
  std::function<Status(void* host, const void* gpu, size_t bytes, int device, StreamHandle)> toHost;
  std::function<Status(void* gpu, const void* host, size_t bytes, int device, StreamHandle)>
      toDevice;

  static StagingCopier cuda();
};

class DeviceStaging {
 public:
  using HostOp = std::function<Status(ConstBufferView in, BufferView out)>;

  explicit DeviceStaging(StagingCopier copier = StagingCopier::cuda())
      : copier_(std::move(copier)) {}
  DeviceStaging(const DeviceStaging&) = delete;
  DeviceStaging& operator=(const DeviceStaging&) = delete;
  ~DeviceStaging() { release(); }

  // Runs op on host stand-ins of `in` (read) and `out` (written): a view in host memory stands for
  // itself; a GPU view gets pinned memory, filled from the GPU first (`in`) or copied back to it
  // after op succeeds (`out`). `in` and `out` may be the same GPU buffer (allreduce, broadcast):
  // one copy each way. `what` names the collective in errors.
  Status run(ConstBufferView in, BufferView out, StreamHandle stream, const char* what,
             const HostOp& op);

  // Frees the pinned memory. Call once nothing reads it any more (after the transports stop).
  void release();

 private:
  Result<uint8_t*> reserve(size_t bytes);

  StagingCopier copier_;
  void* pinned_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace isthmus::coll
