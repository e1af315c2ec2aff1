// kernels/cuda_staging.h with the CUDA runtime.
#include <cuda_runtime.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda_staging.h"

namespace isthmus::kernels::cuda {
namespace {

Status check(cudaError_t e, const char* call, size_t bytes, int device) {
  if (e == cudaSuccess) return okStatus();
  return cudaError("kernels::cuda::", call, " of ", bytes, " bytes on device ", device, ": ",
                   cudaGetErrorString(e));
}

Status copy(void* dst, const void* src, size_t bytes, int device, StreamHandle stream,
            cudaMemcpyKind kind, const char* what) {
  if (bytes == 0) return okStatus();
  if (device >= 0)
    ISTHMUS_RETURN_IF_ERROR(check(cudaSetDevice(device), "cudaSetDevice", 0, device));
  cudaStream_t s = detail::toStream(stream);
  ISTHMUS_RETURN_IF_ERROR(check(cudaMemcpyAsync(dst, src, bytes, kind, s), what, bytes, device));
  return check(cudaStreamSynchronize(s), "cudaStreamSynchronize", bytes, device);
}

}  // namespace

Result<void*> allocPinned(size_t bytes) {
  void* p = nullptr;
  ISTHMUS_RETURN_IF_ERROR(
      check(cudaMallocHost(&p, bytes == 0 ? 1 : bytes), "cudaMallocHost", bytes, -1));
  return p;
}

void freePinned(void* p) {
  if (p) (void)cudaFreeHost(p);
}

Status copyToHost(void* host, const void* deviceSrc, size_t bytes, int device,
                  StreamHandle stream) {
  return copy(host, deviceSrc, bytes, device, stream, cudaMemcpyDeviceToHost,
              "cudaMemcpyAsync (device to host)");
}

Status copyToDevice(void* deviceDst, const void* host, size_t bytes, int device,
                    StreamHandle stream) {
  return copy(deviceDst, host, bytes, device, stream, cudaMemcpyHostToDevice,
              "cudaMemcpyAsync (host to device)");
}

}  // namespace isthmus::kernels::cuda
