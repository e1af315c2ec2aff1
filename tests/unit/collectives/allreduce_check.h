// Test support shared by the unit (threads) and multi-process collective tests: deterministic
// per-rank inputs, a fixed-order reference sum, and the checks issue 6 asks for (exact codecs
// exactly or to fp32 rounding, lossy codecs within their quantisation bound, every rank's bytes
// identical).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "collectives/communicator.h"
#include "runtime/core/dtype.h"
#include "runtime/core/status.h"

namespace isthmus::testing {

// Data kinds: kIntegers are small integers (sums exact in any order, in every dtype), kFloats are
// random normals.
enum class DataKind { kIntegers, kFloats };

// The input of `rank`, n elements of dtype, deterministic.
std::vector<uint8_t> makeInput(int rank, size_t n, DType dtype, DataKind kind, uint64_t salt = 0);

struct Reference {
  std::vector<double> sum;     // fixed order (rank 0, 1, ...) in fp64, then op applied
  std::vector<double> absSum;  // sum of |x| over ranks (for the rounding bound)
  std::vector<std::vector<double>> centerSum;  // per center, for the lossy bound
};

// centerOfRank[r] gives each rank's center; the reference of every rank's makeInput.
Reference makeReference(const std::vector<int>& centerOfRank, size_t n, DType dtype, DataKind kind,
                        coll::ReduceOp op, uint64_t salt = 0);

// Checks a result. codecBits: 32 for exact (fp32) inter codecs, 8 for int8, 4 for int4 (the
// quantisation bound), 16 for fp16/bf16 codecs. Returns a message naming the first bad element.
Status checkAllreduce(const std::vector<uint8_t>& result, DType dtype, const Reference& ref,
                      DataKind kind, coll::ReduceOp op, int worldSize, int codecBits);

double toDouble(const uint8_t* p, DType dtype, size_t i);

}  // namespace isthmus::testing
