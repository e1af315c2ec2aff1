// Host staging for GPU buffers: page-locked host memory and copies between it and the device,
// ordered on a caller's stream. The collectives use it to run the host hierarchical allreduce on a
// CUDA tensor (collectives/algorithms.h, "hier_staged_gpu") until the GPU path keeps the data on
// the device. This header includes no CUDA header; streams are StreamHandle (nullptr = legacy
// default stream).
//
// In a build without CUDA (isthmus/config.h: ISTHMUS_HAVE_CUDA == 0) every function returns
// kNotSupported. Errors name the CUDA call and its error string (kCudaError).
#pragma once

#include <cstddef>

#include "runtime/core/buffer.h"
#include "runtime/core/status.h"

namespace isthmus::kernels::cuda {

// cudaMallocHost / cudaFreeHost.
Result<void*> allocPinned(size_t bytes);
void freePinned(void* p);

// Copies `bytes` on `stream` (after the work already queued there, e.g. the backward pass that
// wrote the gradient) on device `device`, and waits for the copy: the host reads or overwrites the
// staging buffer next.
Status copyToHost(void* host, const void* deviceSrc, size_t bytes, int device, StreamHandle stream);
Status copyToDevice(void* deviceDst, const void* host, size_t bytes, int device,
                    StreamHandle stream);

}  // namespace isthmus::kernels::cuda
