// Top-k on the CPU: the k largest |v| (NaN above Inf above every finite value; ties go to the
// lower index), sent as increasing u32 indices and exact fp32 values.
//
// Selection is exact and deterministic (the CUDA version must pick the same elements):
//   1. Estimate a threshold from a strided sample of v = x + r, set low enough that ~1.3 k
//      elements pass it.
//   2. One fused pass: v = x + r, store v into r, and collect the indices whose key (|v| as bits)
//      reaches the threshold (in index order).
//   3. If at least k were collected, the k-th largest key T among them is the global one; take
//      every candidate above T and the first (k - #above) equal to T, in index order. Otherwise
//      fall back to an exact radix select over r (three histogram passes), then one pass.
//   4. The residual of a sent element is v - v (0, or NaN when v is not finite).
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/simd.h"

namespace isthmus::kernels::cpu {
namespace {

// Pass 2 (scalar): v = x + r (or x), r = v, collect keys >= threshold until `cap` are found.
// Returns false if the cap overflowed (the pass still completes the residual update).
bool fusedPassScalar(ConstBufferView x, float* r, uint32_t threshold, size_t cap, size_t from,
                     std::vector<uint32_t>* cand) {
  bool ok = true;
  for (size_t i = from; i < x.count; ++i) {
    float v = loadOne(x.data, x.dtype, i);
    if (r) {
      v = v + r[i];
      r[i] = v;
    }
    if (math::magnitudeBits(v) >= threshold) {
      if (cand->size() < cap) {
        cand->push_back(static_cast<uint32_t>(i));
      } else {
        ok = false;
      }
    }
  }
  return ok;
}

#if ISTHMUS_X86_SIMD
template <DType kIn, bool kEf>
ISTHMUS_TARGET_AVX2 size_t fusedPassAvx2(const void* x, size_t n, float* r, uint32_t threshold,
                                         size_t cap, std::vector<uint32_t>* cand, bool* ok) {
  const __m256i mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i thr = _mm256_set1_epi32(static_cast<int>(threshold - 1));  // threshold >= 1
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = load8(x, kIn, i);
    if (kEf) {
      v = _mm256_add_ps(v, _mm256_loadu_ps(r + i));
      _mm256_storeu_ps(r + i, v);
    }
    __m256i key = _mm256_and_si256(_mm256_castps_si256(v), mask);
    int bits = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(key, thr)));
    while (bits) {
      int b = __builtin_ctz(bits);
      bits &= bits - 1;
      if (cand->size() < cap) {
        cand->push_back(static_cast<uint32_t>(i + b));
      } else {
        *ok = false;
      }
    }
  }
  return i;
}
#endif

bool fusedPass(ConstBufferView x, float* r, uint32_t threshold, size_t cap,
               std::vector<uint32_t>* cand) {
  size_t done = 0;
  bool ok = true;
#if ISTHMUS_X86_SIMD
  if (useAvx2()) {
    switch (x.dtype) {
      case DType::kFloat16:
        done =
            r ? fusedPassAvx2<DType::kFloat16, true>(x.data, x.count, r, threshold, cap, cand, &ok)
              : fusedPassAvx2<DType::kFloat16, false>(x.data, x.count, r, threshold, cap, cand,
                                                      &ok);
        break;
      case DType::kBFloat16:
        done =
            r ? fusedPassAvx2<DType::kBFloat16, true>(x.data, x.count, r, threshold, cap, cand, &ok)
              : fusedPassAvx2<DType::kBFloat16, false>(x.data, x.count, r, threshold, cap, cand,
                                                       &ok);
        break;
      default:
        done =
            r ? fusedPassAvx2<DType::kFloat32, true>(x.data, x.count, r, threshold, cap, cand, &ok)
              : fusedPassAvx2<DType::kFloat32, false>(x.data, x.count, r, threshold, cap, cand,
                                                      &ok);
        break;
    }
  }
#endif
  return fusedPassScalar(x, r, threshold, cap, done, cand) && ok;
}

// The `rank`-th largest (0-based) key of v[0, n), by three histogram passes (11 + 11 + 9 bits).
uint32_t radixSelect(ConstBufferView x, const float* r, size_t n, uint64_t rank) {
  auto valueAt = [&](size_t i) { return r ? r[i] : loadOne(x.data, x.dtype, i); };
  uint32_t prefix = 0, prefixMask = 0;
  const int shifts[3] = {20, 9, 0};
  const int widths[3] = {11, 11, 9};
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<uint64_t> hist(size_t{1} << widths[pass], 0);
    for (size_t i = 0; i < n; ++i) {
      uint32_t k = math::magnitudeBits(valueAt(i));
      if ((k & prefixMask) != prefix) continue;
      ++hist[(k >> shifts[pass]) & ((1u << widths[pass]) - 1)];
    }
    for (size_t b = hist.size(); b-- > 0;) {
      if (rank < hist[b]) {
        prefix |= static_cast<uint32_t>(b) << shifts[pass];
        prefixMask |= ((1u << widths[pass]) - 1) << shifts[pass];
        break;
      }
      rank -= hist[b];
    }
  }
  return prefix;
}

}  // namespace

void encodeTopK(uint32_t kept, ConstBufferView x, float* residual, uint8_t* payload) {
  const size_t n = x.count;
  if (n == 0) return;
  // Plain encode has no residual to stage v in: it reads x directly (v = x).
  float* r = residual;
  auto valueAt = [&](size_t i) { return r ? r[i] : loadOne(x.data, x.dtype, i); };

  // 1. Threshold from a sample of v (computed from x and r before the fused pass changes r).
  const size_t sampleSize = std::min<size_t>(n, 8192);
  const size_t stride = n / sampleSize;
  std::vector<uint32_t> sample(sampleSize);
  for (size_t j = 0; j < sampleSize; ++j) {
    size_t i = j * stride;
    float v = loadOne(x.data, x.dtype, i);
    if (r) v = v + r[i];
    sample[j] = math::magnitudeBits(v);
  }
  double want = static_cast<double>(kept) / static_cast<double>(n) * sampleSize * 1.3 + 16;
  size_t rank = std::min<size_t>(sampleSize - 1, static_cast<size_t>(want));
  std::nth_element(sample.begin(), sample.begin() + rank, sample.end(), std::greater<uint32_t>());
  uint32_t threshold = std::max<uint32_t>(sample[rank], 1);

  // 2. Fused pass.
  std::vector<uint32_t> cand;
  const size_t cap = std::max<size_t>(size_t{4} * kept + 65536, 1);
  cand.reserve(std::min(cap, n));
  bool ok = fusedPass(x, r, threshold, cap, &cand);

  uint32_t* outIdx = reinterpret_cast<uint32_t*>(payload);
  uint8_t* outVal = payload + size_t{kept} * 4;
  size_t written = 0;
  auto emit = [&](size_t i) {
    float v = valueAt(i);
    uint32_t idx = static_cast<uint32_t>(i);
    std::memcpy(reinterpret_cast<uint8_t*>(outIdx) + written * 4, &idx, 4);
    std::memcpy(outVal + written * 4, &v, 4);
    if (r) r[i] = v - v;
    ++written;
  };

  if (ok && cand.size() >= kept) {
    // 3a. The k-th largest key among the candidates.
    std::vector<uint32_t> keys(cand.size());
    for (size_t j = 0; j < cand.size(); ++j) keys[j] = math::magnitudeBits(valueAt(cand[j]));
    std::vector<uint32_t> sorted = keys;
    std::nth_element(sorted.begin(), sorted.begin() + (kept - 1), sorted.end(),
                     std::greater<uint32_t>());
    const uint32_t t = sorted[kept - 1];
    size_t above = 0;
    for (uint32_t k : keys) above += k > t;
    size_t equalLeft = kept - above;
    for (size_t j = 0; j < cand.size() && written < kept; ++j) {
      if (keys[j] > t) {
        emit(cand[j]);
      } else if (keys[j] == t && equalLeft > 0) {
        --equalLeft;
        emit(cand[j]);
      }
    }
  } else {
    // 3b. Exact fallback.
    const uint32_t t = radixSelect(x, r, n, kept - 1);
    size_t above = 0;
    for (size_t i = 0; i < n; ++i) above += math::magnitudeBits(valueAt(i)) > t;
    size_t equalLeft = kept - above;
    for (size_t i = 0; i < n && written < kept; ++i) {
      uint32_t k = math::magnitudeBits(valueAt(i));
      if (k > t) {
        emit(i);
      } else if (k == t && equalLeft > 0) {
        --equalLeft;
        emit(i);
      }
    }
  }
  ISTHMUS_CHECK(written == kept, "top-k selected a wrong number of elements");
}

bool topkIndicesValid(const uint8_t* payload, size_t n, uint32_t kept) {
  uint64_t prev = 0;
  for (uint32_t j = 0; j < kept; ++j) {
    uint32_t idx = loadU32(payload + size_t{j} * 4);
    if (idx >= n || (j > 0 && idx <= prev)) return false;
    prev = idx;
  }
  return true;
}

void decodeTopK(const uint8_t* payload, size_t n, uint32_t kept, const DecodeTarget& t) {
  const uint8_t* vals = payload + size_t{kept} * 4;
  if (t.accumulate) {
    float* acc = static_cast<float*>(t.data);
    for (uint32_t j = 0; j < kept; ++j) {
      uint32_t idx = loadU32(payload + size_t{j} * 4);
      acc[idx] = acc[idx] + loadF32(vals + size_t{j} * 4);
    }
    return;
  }
  std::memset(t.data, 0, n * dtypeSize(t.dtype));  // +0.0 in fp32, fp16 and bf16 alike
  for (uint32_t j = 0; j < kept; ++j) {
    storeOne(t, loadU32(payload + size_t{j} * 4), loadF32(vals + size_t{j} * 4));
  }
}

}  // namespace isthmus::kernels::cpu
