// Non-owning views of memory that collectives and codecs operate on.
//
// A view names a pointer, an element count, a dtype and where the memory lives. It never owns
// the memory: the caller keeps it alive until the operation using the view has completed (for an
// asynchronous collective, until its Work completes). Views are plain values; copy them freely.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/core/dtype.h"

namespace isthmus {

enum class MemoryKind : uint8_t {
  kHost = 0,        // pageable host memory
  kHostPinned = 1,  // page-locked host memory (cudaHostAlloc)
  kCuda = 2,        // device memory of the CUDA device `device`
};

const char* memoryKindName(MemoryKind kind);

// An opaque CUDA stream (cudaStream_t) so public headers need no CUDA include.
// nullptr means the legacy default stream.
using StreamHandle = void*;

struct BufferView {
  void* data = nullptr;
  size_t count = 0;  // elements, not bytes
  DType dtype = DType::kFloat32;
  MemoryKind memory = MemoryKind::kHost;
  int device = -1;  // CUDA device ordinal when memory == kCuda

  size_t bytes() const { return count * dtypeSize(dtype); }
  bool onDevice() const { return memory == MemoryKind::kCuda; }
  // Elements [offset, offset + n) as a view.
  BufferView slice(size_t offset, size_t n) const {
    BufferView v = *this;
    v.data = static_cast<uint8_t*>(data) + offset * dtypeSize(dtype);
    v.count = n;
    return v;
  }
};

struct ConstBufferView {
  const void* data = nullptr;
  size_t count = 0;
  DType dtype = DType::kFloat32;
  MemoryKind memory = MemoryKind::kHost;
  int device = -1;

  ConstBufferView() = default;
  ConstBufferView(const void* d, size_t n, DType t, MemoryKind m = MemoryKind::kHost, int dev = -1)
      : data(d), count(n), dtype(t), memory(m), device(dev) {}
  ConstBufferView(const BufferView& v)  // NOLINT: a mutable view is a const view
      : data(v.data), count(v.count), dtype(v.dtype), memory(v.memory), device(v.device) {}

  size_t bytes() const { return count * dtypeSize(dtype); }
  bool onDevice() const { return memory == MemoryKind::kCuda; }
  ConstBufferView slice(size_t offset, size_t n) const {
    ConstBufferView v = *this;
    v.data = static_cast<const uint8_t*>(data) + offset * dtypeSize(dtype);
    v.count = n;
    return v;
  }
};

}  // namespace isthmus
