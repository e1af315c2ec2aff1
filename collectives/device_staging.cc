#include "collectives/device_staging.h"

#include "kernels/cuda_codecs.h"
#include "kernels/cuda_staging.h"

namespace isthmus::coll {

std::string gpuStagingUnavailable() {
  if (kernels::cuda::available()) return "";
  return "this build of Isthmus has no CUDA, or no GPU is visible to this process";
}

StagingCopier StagingCopier::cuda() {
  return StagingCopier{kernels::cuda::allocPinned, kernels::cuda::freePinned,
                       kernels::cuda::copyToHost, kernels::cuda::copyToDevice};
}

void DeviceStaging::release() {
  if (pinned_) copier_.freePinned(pinned_);
  pinned_ = nullptr;
  bytes_ = 0;
}

Result<uint8_t*> DeviceStaging::reserve(size_t bytes) {
  if (bytes > bytes_ || pinned_ == nullptr) {
    release();
    ISTHMUS_ASSIGN_OR_RETURN(pinned_, copier_.allocPinned(bytes));
    bytes_ = bytes;
  }
  return static_cast<uint8_t*>(pinned_);
}

Status DeviceStaging::run(ConstBufferView in, BufferView out, StreamHandle stream, const char* what,
                          const HostOp& op) {
  if (!in.onDevice() && !out.onDevice()) return op(in, out);
  const bool same = in.onDevice() && out.onDevice() && in.data == out.data &&
                    in.bytes() == out.bytes() && in.device == out.device;
  const size_t inRegion = in.onDevice() && !same ? (in.bytes() + 255) & ~size_t{255} : 0;
  const size_t outBytes = out.onDevice() ? out.bytes() : 0;
  ISTHMUS_ASSIGN_OR_RETURN(uint8_t * pinned, reserve(inRegion + outBytes));
  ConstBufferView hostIn = in;
  BufferView hostOut = out;
  if (out.onDevice()) {
    hostOut = BufferView{pinned + inRegion, out.count, out.dtype, MemoryKind::kHostPinned};
  }
  if (in.onDevice()) {
    void* dst = same ? hostOut.data : pinned;
    ISTHMUS_RETURN_IF_ERROR(
        copier_.toHost(dst, in.data, in.bytes(), in.device, stream)
            .withContext(strCat(what, ": staging the GPU input in host memory")));
    hostIn = ConstBufferView{dst, in.count, in.dtype, MemoryKind::kHostPinned};
  }
  ISTHMUS_RETURN_IF_ERROR(op(hostIn, hostOut));
  if (!out.onDevice()) return okStatus();
  return copier_.toDevice(out.data, hostOut.data, out.bytes(), out.device, stream)
      .withContext(strCat(what, ": copying the result back to the GPU"));
}

}  // namespace isthmus::coll
