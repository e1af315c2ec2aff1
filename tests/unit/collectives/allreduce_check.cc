#include "tests/unit/collectives/allreduce_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "collectives/dtype_math.h"

namespace isthmus::testing {

namespace {
void store(uint8_t* p, DType dt, size_t i, float v) {
  switch (dt) {
    case DType::kFloat32: std::memcpy(p + 4 * i, &v, 4); break;
    case DType::kFloat16: {
      uint16_t h = coll::floatToHalf(v);
      std::memcpy(p + 2 * i, &h, 2);
      break;
    }
    default: {
      uint16_t b = coll::floatToBf16(v);
      std::memcpy(p + 2 * i, &b, 2);
      break;
    }
  }
}
float roundTo(DType dt, double v) {
  uint8_t tmp[4];
  store(tmp, dt, 0, static_cast<float>(v));
  return static_cast<float>(toDouble(tmp, dt, 0));
}
}  // namespace

double toDouble(const uint8_t* p, DType dt, size_t i) {
  switch (dt) {
    case DType::kFloat32: {
      float f;
      std::memcpy(&f, p + 4 * i, 4);
      return f;
    }
    case DType::kFloat16: {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      return coll::halfToFloat(h);
    }
    default: {
      uint16_t b;
      std::memcpy(&b, p + 2 * i, 2);
      return coll::bf16ToFloat(b);
    }
  }
}

std::vector<uint8_t> makeInput(int rank, size_t n, DType dtype, DataKind kind, uint64_t salt) {
  std::vector<uint8_t> out(n * dtypeSize(dtype));
  std::mt19937_64 gen(0x9E3779B97F4A7C15ull * (rank + 1) + salt);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) {
    float v = kind == DataKind::kIntegers ? static_cast<float>(static_cast<int>(gen() % 9) - 4)
                                          : normal(gen);
    store(out.data(), dtype, i, v);
  }
  return out;
}

Reference makeReference(const std::vector<int>& centerOfRank, size_t n, DType dtype, DataKind kind,
                        coll::ReduceOp op, uint64_t salt) {
  Reference ref;
  const int N = static_cast<int>(centerOfRank.size());
  const int C = *std::max_element(centerOfRank.begin(), centerOfRank.end()) + 1;
  ref.sum.assign(n, 0.0);
  ref.absSum.assign(n, 0.0);
  ref.centerSum.assign(C, std::vector<double>(n, 0.0));
  for (int r = 0; r < N; ++r) {
    std::vector<uint8_t> x = makeInput(r, n, dtype, kind, salt);
    for (size_t i = 0; i < n; ++i) {
      double v = toDouble(x.data(), dtype, i);
      ref.sum[i] += v;
      ref.absSum[i] += std::fabs(v);
      ref.centerSum[centerOfRank[r]][i] += v;
    }
  }
  if (op == coll::ReduceOp::kAvg) {
    for (double& v : ref.sum) v /= N;
  }
  return ref;
}

Status checkAllreduce(const std::vector<uint8_t>& result, DType dtype, const Reference& ref,
                      DataKind kind, coll::ReduceOp op, int worldSize, int codecBits) {
  const size_t n = ref.sum.size();
  const double div = op == coll::ReduceOp::kAvg ? worldSize : 1.0;
  double lossyBound = 0;
  if (codecBits < 32) {
    // Stage 1 quantises each center's sum, stage 2 the total: each error is at most half a step
    // of its block, and a block's absmax is at most the tensor's.
    const double levels = codecBits == 8 ? 127.0 : codecBits == 4 ? 7.0 : 0.0;
    double total = 0;
    for (const auto& cs : ref.centerSum) {
      double m = 0;
      for (double v : cs) m = std::max(m, std::fabs(v));
      total += levels > 0 ? m / (2 * levels) : m * std::ldexp(1.0, -8);
      lossyBound = std::max(lossyBound, m);
    }
    double m = 0;
    for (double v : ref.sum) m = std::max(m, std::fabs(v) * div);
    m += total;
    lossyBound = (total + (levels > 0 ? m / (2 * levels) : m * std::ldexp(1.0, -8))) * 1.0001 / div;
  }
  for (size_t i = 0; i < n; ++i) {
    const double got = toDouble(result.data(), dtype, i);
    const double want = ref.sum[i];
    bool ok;
    double tol = 0;
    if (codecBits < 32) {
      tol = lossyBound + std::fabs(want) * (dtype == DType::kFloat32 ? 1e-6 : 1e-2);
      ok = std::fabs(got - want) <= tol;
    } else if (kind == DataKind::kIntegers) {
      ok = got == static_cast<double>(roundTo(dtype, static_cast<float>(want)));
    } else {
      // fp32 summation in any order: (N-1) roundings of at most 2^-24 of the running |sum|, one
      // division, then one rounding to the tensor dtype.
      const double ulp = dtype == DType::kFloat32   ? 0
                         : dtype == DType::kFloat16 ? 1.0 / 1024
                                                    : 1.0 / 128;
      tol = (worldSize + 1) * std::ldexp(1.0, -24) * ref.absSum[i] / div + std::fabs(want) * ulp +
            (dtype == DType::kFloat16 ? std::ldexp(1.0, -24) : 0.0);
      ok = std::fabs(got - want) <= tol;
    }
    if (!ok) {
      return internalError("element ", i, " of ", n, ": got ", got, ", reference ", want,
                           " (tolerance ", tol, ", codec bits ", codecBits, ")");
    }
  }
  return okStatus();
}

}  // namespace isthmus::testing
