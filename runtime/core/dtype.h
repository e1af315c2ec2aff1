// Element types Isthmus moves and reduces. Values are part of the wire format (codec headers carry
// them): never renumber, only append.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/core/status.h"

namespace isthmus {

enum class DType : uint8_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kBFloat16 = 2,
  kInt8 = 3,
  kUInt8 = 4,
  kInt32 = 5,
};

inline constexpr int kNumDTypes = 6;

// Bytes per element.
size_t dtypeSize(DType dtype);
// "fp32", "fp16", "bf16", "int8", "uint8", "int32".
const char* dtypeName(DType dtype);
bool isFloatingPoint(DType dtype);
// Accepts the names above and the usual aliases ("float32", "float", "half", "bfloat16", ...).
Result<DType> parseDType(const std::string& name);
// True if `raw` is the value of a defined DType (for validating bytes from the wire).
bool isValidDType(uint8_t raw);

}  // namespace isthmus
