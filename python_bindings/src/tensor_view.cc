#include "python_bindings/src/tensor_view.h"

#include "python_bindings/src/errors.h"
#include "runtime/core/status.h"

namespace nb = nanobind;

namespace isthmus::py {
namespace {

const char* deviceName(int32_t type) {
  switch (type) {
    case nb::device::cpu::value: return "cpu";
    case nb::device::cuda::value: return "cuda";
    case nb::device::cuda_host::value: return "cuda_host";
    case nb::device::cuda_managed::value: return "cuda_managed";
    default: return "other";
  }
}

std::string dtypeString(nb::dlpack::dtype dt) {
  const char* kind = "?";
  switch (static_cast<nb::dlpack::dtype_code>(dt.code)) {
    case nb::dlpack::dtype_code::Int: kind = "int"; break;
    case nb::dlpack::dtype_code::UInt: kind = "uint"; break;
    case nb::dlpack::dtype_code::Float: kind = "float"; break;
    case nb::dlpack::dtype_code::Bfloat: kind = "bfloat"; break;
    case nb::dlpack::dtype_code::Bool: kind = "bool"; break;
    default:
      kind = "dtype_code_";
      return strCat(kind, static_cast<int>(dt.code), "_", static_cast<int>(dt.bits));
  }
  return strCat(kind, static_cast<int>(dt.bits));
}

Result<DType> toDType(nb::dlpack::dtype dt) {
  if (dt.lanes == 1) {
    using C = nb::dlpack::dtype_code;
    switch (static_cast<C>(dt.code)) {
      case C::Float:
        if (dt.bits == 32) return DType::kFloat32;
        if (dt.bits == 16) return DType::kFloat16;
        break;
      case C::Bfloat:
        if (dt.bits == 16) return DType::kBFloat16;
        break;
      case C::Int:
        if (dt.bits == 8) return DType::kInt8;
        if (dt.bits == 32) return DType::kInt32;
        break;
      case C::UInt:
        if (dt.bits == 8) return DType::kUInt8;
        break;
      default: break;
    }
  }
  return invalidArgumentError("dtype ", dtypeString(dt),
                              " is not supported (float32, float16, bfloat16, int8, uint8, int32)");
}

}  // namespace

std::string describeArray(const nb::ndarray<>& array) {
  std::string shape;
  for (size_t i = 0; i < array.ndim(); ++i) {
    shape += strCat(i ? ", " : "", array.shape(i));
  }
  return strCat(dtypeString(array.dtype()), "[", shape, "] (", deviceName(array.device_type()),
                ")");
}

BufferView toBufferView(const nb::ndarray<>& array, const char* what) {
  auto dtype = toDType(array.dtype());
  if (!dtype.ok()) {
    throw StatusError(dtype.status().withContext(strCat(what, " ", describeArray(array))));
  }
  // Row-major contiguity, ignoring the strides of size-1 dimensions (torch reports arbitrary ones).
  size_t count = 1;
  int64_t expected = 1;
  bool contiguous = true;
  for (size_t i = array.ndim(); i-- > 0;) {
    size_t n = array.shape(i);
    count *= n;
    if (n != 1 && array.stride(i) != expected) contiguous = false;
    expected *= static_cast<int64_t>(n);
  }
  if (count == 0) contiguous = true;
  if (!contiguous) {
    std::string strides;
    for (size_t i = 0; i < array.ndim(); ++i) strides += strCat(i ? ", " : "", array.stride(i));
    throw StatusError(invalidArgumentError(
        what, " ", describeArray(array), " is not contiguous (strides in elements [", strides,
        "]); pass a contiguous tensor (isthmus.allreduce copies one for you, with a warning)"));
  }
  BufferView view;
  view.data = array.data();
  view.count = count;
  view.dtype = *dtype;
  switch (array.device_type()) {
    case nb::device::cpu::value: view.memory = MemoryKind::kHost; break;
    case nb::device::cuda_host::value: view.memory = MemoryKind::kHostPinned; break;
    case nb::device::cuda::value:
      view.memory = MemoryKind::kCuda;
      view.device = array.device_id();
      break;
    default:
      throw StatusError(invalidArgumentError(what, " ", describeArray(array),
                                             ": only cpu, cuda and cuda_host memory is supported"));
  }
  return view;
}

}  // namespace isthmus::py
