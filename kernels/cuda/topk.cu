// Top-k on the GPU, selecting exactly what the CPU selects (kernels/cpu/topk.cc): the k largest
// keys |v| as bits (NaN > Inf > finite), ties to the lower index, written in index order.
//
// Every data-dependent size stays on the device, so nothing synchronises the host. Fast path:
//   1. sample: one block sorts the keys of ~8192 strided v = x + r and takes a threshold t low
//      enough that ~1.3 k elements reach it (the same estimate as the CPU).
//   2. fused pass (the only full read): v = x + r, r = v, and each 4096-element tile writes the
//      indices whose key >= t, in index order, into its own slots (capacity fixed on the host).
//   3. scan the tile counts; compact the candidates (index, key) into one list, in index order.
//   4. radix select over the candidate keys (11 + 11 + 9 bits) -> the k-th key T and how many
//      elements equal to T are taken (m); then count/scan/write over the candidate list: every key
//      above T and the first m equal to T, with the residual of a sent element set to v - v.
// If a tile overflows its slots or fewer than k candidates reach t, a device flag switches to the
// exact full-array path (the same select and write over all n elements). Both paths are always
// launched; the kernels of the path not taken return at once. Workspace: cudaMallocAsync.
#include <cub/block/block_scan.cuh>

#include "kernels/cuda/common.cuh"

namespace isthmus::kernels::cuda::detail {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kWarps = kThreads / 32;
constexpr unsigned kItems = 16;
constexpr unsigned kTile = kThreads * kItems;
constexpr unsigned kBins = 2048;
constexpr unsigned kSample = 8192;
constexpr unsigned kSampleThreads = 1024;

struct SelectState {
  uint32_t prefix;
  uint32_t mask;
  uint32_t rank;  // remaining 0-based rank inside the current prefix
};

struct TopkState {
  SelectState fast, full;
  uint32_t threshold;
  uint32_t fallback;   // 1: the full-array path runs
  uint32_t candTotal;  // candidates in the compacted list
};

__device__ __forceinline__ uint32_t keyOf(float v) { return math::floatBits(v) & 0x7fffffffu; }

template <int kIn, bool kEf>
__device__ __forceinline__ float valueAt(const void* x, const float* r, size_t i) {
  // After the fused pass, r holds v (EF); a plain encode recomputes v from x.
  return kEf ? r[i] : loadIn<kIn>(x, i);
}

// ---- 1. threshold from a sample ----------------------------------------------------------------
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kSampleThreads)
    sampleKernel(const void* __restrict__ x, const float* __restrict__ r, size_t n, size_t samples,
                 size_t stride, uint32_t rho, uint32_t kept, TopkState* st) {
  __shared__ uint32_t keys[kSample];
  for (unsigned j = threadIdx.x; j < kSample; j += kSampleThreads) {
    uint32_t k = 0;
    if (j < samples) {
      float v = loadIn<kIn>(x, j * stride);
      if (kEf) v = math::add(v, r[j * stride]);
      k = keyOf(v);
    }
    keys[j] = k;
  }
  __syncthreads();
  // Bitonic sort, descending.
  for (unsigned size = 2; size <= kSample; size <<= 1) {
    for (unsigned step = size >> 1; step > 0; step >>= 1) {
      for (unsigned i = threadIdx.x; i < kSample; i += kSampleThreads) {
        unsigned partner = i ^ step;
        if (partner > i) {
          bool descending = (i & size) == 0;
          uint32_t a = keys[i], b = keys[partner];
          if ((a < b) == descending) {
            keys[i] = b;
            keys[partner] = a;
          }
        }
      }
      __syncthreads();
    }
  }
  if (threadIdx.x == 0) {
    uint32_t t = keys[rho];
    st->threshold = t > 1 ? t : 1;
    st->fallback = 0;
    st->candTotal = 0;
    st->fast = SelectState{0, 0, kept - 1};
    st->full = SelectState{0, 0, kept - 1};
  }
}

// ---- 2. fused EF pass with per-tile candidate slots --------------------------------------------
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads)
    fusedCandKernel(const void* __restrict__ x, size_t n, float* __restrict__ r,
                    TopkState* __restrict__ st, uint32_t capTile, uint32_t* __restrict__ cand,
                    uint32_t* __restrict__ tileCount) {
  __shared__ uint32_t counts[kItems][kWarps];
  __shared__ uint32_t total;
  const uint32_t t = st->threshold;
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  const size_t base = size_t{blockIdx.x} * kTile;
  uint32_t ballots[kItems];
#pragma unroll
  for (unsigned j = 0; j < kItems; ++j) {
    size_t i = base + j * kThreads + threadIdx.x;
    bool flag = false;
    if (i < n) {
      float v = loadIn<kIn>(x, i);
      if (kEf) {
        v = math::add(v, r[i]);
        r[i] = v;
      }
      flag = keyOf(v) >= t;
    }
    ballots[j] = __ballot_sync(0xffffffffu, flag);
    if (lane == 0) counts[j][warp] = __popc(ballots[j]);
  }
  __syncthreads();
  if (warp == 0) {
    // Exclusive scan of the 128 counts in (j, warp) order = index order; 4 per lane.
    uint32_t* flat = &counts[0][0];
    uint32_t c[4], sum = 0;
    for (int q = 0; q < 4; ++q) {
      c[q] = flat[lane * 4 + q];
      sum += c[q];
    }
    uint32_t incl = sum;
    for (int o = 1; o < 32; o <<= 1) {
      uint32_t v = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= static_cast<unsigned>(o)) incl += v;
    }
    uint32_t run = incl - sum;
    for (int q = 0; q < 4; ++q) {
      flat[lane * 4 + q] = run;
      run += c[q];
    }
    if (lane == 31) total = incl;
  }
  __syncthreads();
  const uint32_t lower = (1u << lane) - 1u;
  uint32_t* slots = cand + size_t{blockIdx.x} * capTile;
#pragma unroll
  for (unsigned j = 0; j < kItems; ++j) {
    if (ballots[j] & (1u << lane)) {
      uint32_t pos = counts[j][warp] + __popc(ballots[j] & lower);
      if (pos < capTile) slots[pos] = static_cast<uint32_t>(base + j * kThreads + threadIdx.x);
    }
  }
  if (threadIdx.x == 0) {
    tileCount[blockIdx.x] = total < capTile ? total : capTile;
    if (total > capTile) atomicExch(&st->fallback, 1u);
  }
}

// ---- scans
// --------------------------------------------------------------------------------------- Exclusive
// scan of arr[0, len) in place by one block; the sum goes to *totalOut (may be null). If kept is
// given and the sum is below it, the fallback flag is raised.
__global__ void __launch_bounds__(kThreads)
    scanKernel(uint32_t* __restrict__ arr, size_t len, uint32_t* totalOut, uint32_t kept,
               TopkState* st) {
  using Scan = cub::BlockScan<unsigned long long, kThreads>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ unsigned long long carry;
  if (threadIdx.x == 0) carry = 0;
  __syncthreads();
  for (size_t base = 0; base < len; base += kThreads) {
    size_t i = base + threadIdx.x;
    unsigned long long v = i < len ? arr[i] : 0, excl, total;
    Scan(tmp).ExclusiveSum(v, excl, total);
    __syncthreads();
    if (i < len) arr[i] = static_cast<uint32_t>(carry + excl);
    __syncthreads();
    if (threadIdx.x == 0) carry += total;
    __syncthreads();
  }
  if (threadIdx.x == 0 && totalOut) {
    *totalOut = static_cast<uint32_t>(carry);
    if (carry < kept) st->fallback = 1;
  }
}

// ---- 3. compaction of the candidates -----------------------------------------------------------
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads)
    compactKernel(const void* __restrict__ x, const float* __restrict__ r,
                  const TopkState* __restrict__ st, uint32_t capTile,
                  const uint32_t* __restrict__ cand, const uint32_t* __restrict__ tileCount,
                  const uint32_t* __restrict__ tileOff, uint32_t* __restrict__ denseIdx,
                  uint32_t* __restrict__ denseKey) {
  if (st->fallback) return;
  const uint32_t count = tileCount[blockIdx.x], off = tileOff[blockIdx.x];
  const uint32_t* slots = cand + size_t{blockIdx.x} * capTile;
  for (uint32_t e = threadIdx.x; e < count; e += kThreads) {
    uint32_t i = slots[e];
    denseIdx[off + e] = i;
    denseKey[off + e] = keyOf(valueAt<kIn, kEf>(x, r, i));
  }
}

// ---- sources of keys for select / count / write: the full array or the candidate list ---------
template <int kIn, bool kEf>
struct FullSource {
  const void* x;
  float* r;
  size_t n;
  static constexpr bool kFallbackPath = true;
  __device__ size_t count(const TopkState*) const { return n; }
  __device__ uint32_t key(size_t p) const { return keyOf(valueAt<kIn, kEf>(x, r, p)); }
  __device__ size_t index(size_t p) const { return p; }
  __device__ float value(size_t i) const { return valueAt<kIn, kEf>(x, r, i); }
  __device__ SelectState* sel(TopkState* st) const { return &st->full; }
};

template <int kIn, bool kEf>
struct DenseSource {
  const void* x;
  float* r;
  const uint32_t* idx;
  const uint32_t* keys;
  static constexpr bool kFallbackPath = false;
  __device__ size_t count(const TopkState* st) const { return st->candTotal; }
  __device__ uint32_t key(size_t p) const { return keys[p]; }
  __device__ size_t index(size_t p) const { return idx[p]; }
  __device__ float value(size_t i) const { return valueAt<kIn, kEf>(x, r, i); }
  __device__ SelectState* sel(TopkState* st) const { return &st->fast; }
};

template <typename Src>
__device__ __forceinline__ bool skip(const TopkState* st) {
  return (st->fallback != 0) != Src::kFallbackPath;
}

template <typename Src>
__global__ void __launch_bounds__(kThreads)
    histKernel(Src src, TopkState* st, int shift, uint32_t binMask, uint32_t* __restrict__ hist) {
  if (skip<Src>(st)) return;
  __shared__ uint32_t local[kBins];
  for (unsigned b = threadIdx.x; b < kBins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const SelectState s = *src.sel(st);
  const size_t count = src.count(st);
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t p = size_t{blockIdx.x} * blockDim.x + threadIdx.x; p < count; p += stride) {
    uint32_t k = src.key(p);
    if ((k & s.mask) == s.prefix) atomicAdd(&local[(k >> shift) & binMask], 1u);
  }
  __syncthreads();
  for (unsigned b = threadIdx.x; b < kBins; b += blockDim.x) {
    if (local[b]) atomicAdd(&hist[b], local[b]);
  }
}

// One warp: find the bin (from the top) that holds sel->rank; update prefix, mask and rank.
template <typename Src>
__global__ void pickBinKernel(Src src, const uint32_t* __restrict__ hist, unsigned bins, int shift,
                              TopkState* st) {
  if (skip<Src>(st)) return;
  SelectState* sel = src.sel(st);
  const unsigned lane = threadIdx.x;
  const unsigned per = bins / 32;         // bins is 2048 or 512
  const unsigned hi = bins - lane * per;  // lane 0 owns the highest bins
  uint32_t sum = 0;
  for (unsigned b = hi - per; b < hi; ++b) sum += hist[b];
  uint32_t incl = sum;
  for (int o = 1; o < 32; o <<= 1) {
    uint32_t t = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= static_cast<unsigned>(o)) incl += t;
  }
  const uint32_t rank = sel->rank;
  const uint32_t excl = incl - sum;
  const bool mine = rank >= excl && rank < incl;
  __syncwarp();  // every lane has read sel->rank before one of them rewrites it
  if (mine) {
    uint32_t left = rank - excl;
    for (unsigned b = hi; b-- > hi - per;) {
      if (left < hist[b]) {
        sel->prefix |= b << shift;
        sel->mask |= (bins - 1) << shift;
        sel->rank = left;
        break;
      }
      left -= hist[b];
    }
  }
}

template <typename Src>
__global__ void __launch_bounds__(kThreads)
    tileCountKernel(Src src, TopkState* st, uint32_t* __restrict__ gt, uint32_t* __restrict__ eq) {
  if (skip<Src>(st)) return;
  using Scan = cub::BlockScan<uint32_t, kThreads>;
  __shared__ typename Scan::TempStorage tmp;
  const uint32_t t = src.sel(st)->prefix;
  const size_t count = src.count(st);
  const size_t base = size_t{blockIdx.x} * kTile;
  uint32_t g = 0, e = 0;
  if (base < count) {
    for (unsigned j = 0; j < kItems; ++j) {
      size_t p = base + j * kThreads + threadIdx.x;
      if (p < count) {
        uint32_t k = src.key(p);
        g += k > t;
        e += k == t;
      }
    }
  }
  uint32_t packed = (g << 16) | e;  // at most 4096 each
  uint32_t total;
  Scan(tmp).ExclusiveSum(packed, packed, total);
  if (threadIdx.x == 0) {
    gt[blockIdx.x] = total >> 16;
    eq[blockIdx.x] = total & 0xffffu;
  }
}

template <typename Src, bool kEf>
__global__ void __launch_bounds__(kThreads)
    tileWriteKernel(Src src, TopkState* st, const uint32_t* __restrict__ gtBefore,
                    const uint32_t* __restrict__ eqBefore, uint32_t kept,
                    uint8_t* __restrict__ payload) {
  if (skip<Src>(st)) return;
  const size_t count = src.count(st);
  if (size_t{blockIdx.x} * kTile >= count) return;  // uniform per block
  using Scan = cub::BlockScan<uint32_t, kThreads>;
  __shared__ typename Scan::TempStorage tmp;
  const SelectState s = *src.sel(st);
  const uint32_t t = s.prefix;
  const uint32_t m = s.rank + 1;  // elements equal to T that are sent
  const size_t base = size_t{blockIdx.x} * kTile + size_t{threadIdx.x} * kItems;  // blocked
  uint32_t keys[kItems];
  uint32_t e = 0;
  for (unsigned j = 0; j < kItems; ++j) {
    size_t p = base + j;
    keys[j] = p < count ? src.key(p) : 0xffffffffu;  // 0xffffffff marks padding (keys < 2^31)
    e += keys[j] == t;
  }
  uint32_t eqSeen;
  Scan(tmp).ExclusiveSum(e, eqSeen);
  __syncthreads();
  eqSeen += eqBefore[blockIdx.x];
  uint32_t selMask = 0, s2 = 0;
  for (unsigned j = 0; j < kItems; ++j) {
    bool take = keys[j] != 0xffffffffu && (keys[j] > t || (keys[j] == t && eqSeen < m));
    if (keys[j] == t) ++eqSeen;
    selMask |= uint32_t{take} << j;
    s2 += take;
  }
  uint32_t slot;
  Scan(tmp).ExclusiveSum(s2, slot);
  const uint32_t eqTile = eqBefore[blockIdx.x];
  slot += gtBefore[blockIdx.x] + (eqTile < m ? eqTile : m);
  uint32_t* idxOut = reinterpret_cast<uint32_t*>(payload);
  float* valOut = reinterpret_cast<float*>(payload + size_t{kept} * 4);
  for (unsigned j = 0; j < kItems; ++j) {
    if (!(selMask & (1u << j)) || slot >= kept) continue;
    size_t i = src.index(base + j);
    float v = src.value(i);
    idxOut[slot] = static_cast<uint32_t>(i);
    valOut[slot] = v;
    if (kEf) src.r[i] = math::sub(v, v);
    ++slot;
  }
}

size_t alignUp(size_t b) { return (b + 255) & ~size_t{255}; }

template <typename Src, bool kEf>
void selectAndWrite(const Src& src, size_t maxCount, uint32_t kept, TopkState* st, uint32_t* hist,
                    uint32_t* gt, uint32_t* eq, uint8_t* payload, cudaStream_t s) {
  const unsigned grid = gridFor(maxCount, kThreads, 16);
  const int shifts[3] = {20, 9, 0};
  const uint32_t masks[3] = {2047, 2047, 511};
  for (int pass = 0; pass < 3; ++pass) {
    cudaMemsetAsync(hist, 0, kBins * 4, s);
    histKernel<Src><<<grid, kThreads, 0, s>>>(src, st, shifts[pass], masks[pass], hist);
    pickBinKernel<Src><<<1, 32, 0, s>>>(src, hist, masks[pass] + 1, shifts[pass], st);
  }
  const size_t tiles = (maxCount + kTile - 1) / kTile;
  tileCountKernel<Src><<<static_cast<unsigned>(tiles), kThreads, 0, s>>>(src, st, gt, eq);
  scanKernel<<<1, kThreads, 0, s>>>(gt, tiles, nullptr, 0, st);
  scanKernel<<<1, kThreads, 0, s>>>(eq, tiles, nullptr, 0, st);
  tileWriteKernel<Src, kEf>
      <<<static_cast<unsigned>(tiles), kThreads, 0, s>>>(src, st, gt, eq, kept, payload);
}

template <int kIn, bool kEf>
Status runTopK(uint32_t kept, const void* x, size_t n, float* r, uint8_t* payload, cudaStream_t s) {
  // Sample and slot sizing: the same threshold estimate as the CPU.
  const size_t samples = n < kSample ? n : kSample;
  const size_t stride = n / samples;
  double want = static_cast<double>(kept) / static_cast<double>(n) * samples * 1.3 + 16;
  const uint32_t rho = static_cast<uint32_t>(want < samples - 1 ? want : samples - 1);
  double capD = 2.0 * kTile * (rho + 1.0) / samples + 64;
  uint32_t capTile = capD >= kTile ? kTile : ((static_cast<uint32_t>(capD) + 31) & ~31u);
  const size_t tiles = (n + kTile - 1) / kTile;
  const size_t maxDense = tiles * capTile;
  const size_t denseTiles = (maxDense + kTile - 1) / kTile;
  const size_t countTiles = tiles > denseTiles ? tiles : denseTiles;

  size_t off = 0;
  auto carve = [&](size_t bytes) {
    size_t o = off;
    off += alignUp(bytes);
    return o;
  };
  const size_t oHist = carve(kBins * 4), oState = carve(sizeof(TopkState));
  const size_t oGt = carve(countTiles * 4), oEq = carve(countTiles * 4);
  const size_t oCount = carve(tiles * 4), oCand = carve(maxDense * 4);
  const size_t oIdx = carve(maxDense * 4), oKey = carve(maxDense * 4);
  void* ws = nullptr;
  cudaError_t e = cudaMallocAsync(&ws, off, s);
  if (e != cudaSuccess) {
    return cudaError("kernels::cuda topk: cudaMallocAsync(", off,
                     ") failed: ", cudaGetErrorString(e));
  }
  uint8_t* w = static_cast<uint8_t*>(ws);
  uint32_t* hist = reinterpret_cast<uint32_t*>(w + oHist);
  TopkState* st = reinterpret_cast<TopkState*>(w + oState);
  uint32_t* gt = reinterpret_cast<uint32_t*>(w + oGt);
  uint32_t* eq = reinterpret_cast<uint32_t*>(w + oEq);
  uint32_t* tileCount = reinterpret_cast<uint32_t*>(w + oCount);
  uint32_t* cand = reinterpret_cast<uint32_t*>(w + oCand);
  uint32_t* denseIdx = reinterpret_cast<uint32_t*>(w + oIdx);
  uint32_t* denseKey = reinterpret_cast<uint32_t*>(w + oKey);

  sampleKernel<kIn, kEf><<<1, kSampleThreads, 0, s>>>(x, r, n, samples, stride, rho, kept, st);
  fusedCandKernel<kIn, kEf>
      <<<static_cast<unsigned>(tiles), kThreads, 0, s>>>(x, n, r, st, capTile, cand, tileCount);
  // tileCount becomes the offsets; candTotal gets the sum (fallback if it is below k).
  cudaMemcpyAsync(gt, tileCount, tiles * 4, cudaMemcpyDeviceToDevice, s);
  scanKernel<<<1, kThreads, 0, s>>>(gt, tiles, &st->candTotal, kept, st);
  compactKernel<kIn, kEf><<<static_cast<unsigned>(tiles), kThreads, 0, s>>>(
      x, r, st, capTile, cand, tileCount, gt, denseIdx, denseKey);
  selectAndWrite<DenseSource<kIn, kEf>, kEf>(DenseSource<kIn, kEf>{x, r, denseIdx, denseKey},
                                             maxDense, kept, st, hist, gt, eq, payload, s);
  selectAndWrite<FullSource<kIn, kEf>, kEf>(FullSource<kIn, kEf>{x, r, n}, n, kept, st, hist, gt,
                                            eq, payload, s);
  Status launched = lastLaunch("topk encode");
  cudaFreeAsync(ws, s);
  return launched;
}

template <int kMode>
__global__ void decodeTopKKernel(const uint8_t* __restrict__ payload, size_t n, uint32_t kept,
                                 void* __restrict__ out, uint32_t* errorFlag) {
  const uint32_t* idx = reinterpret_cast<const uint32_t*>(payload);
  const float* vals = reinterpret_cast<const float*>(payload + size_t{kept} * 4);
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t j = size_t{blockIdx.x} * blockDim.x + threadIdx.x; j < kept; j += stride) {
    uint32_t i = idx[j];
    bool ok = i < n && (j == 0 || idx[j - 1] < i);
    if (!ok) {
      if (errorFlag) atomicOr(errorFlag, 1u);
      continue;
    }
    storeOut<kMode>(out, i, vals[j]);
  }
}

}  // namespace

Status launchEncodeTopK(uint32_t kept, const void* x, DType inType, size_t n, float* residual,
                        uint8_t* payload, cudaStream_t s) {
  if (n == 0) return okStatus();
  if (n > (size_t{1} << 32) - 1) {
    return invalidArgumentError("kernels::cuda topk: ", n, " elements is more than u32 indices");
  }
  Status st;
  withInDType(inType, [&](auto kin) {
    st = residual ? runTopK<kin.value, true>(kept, x, n, residual, payload, s)
                  : runTopK<kin.value, false>(kept, x, n, residual, payload, s);
  });
  return st;
}

void launchDecodeTopK(const uint8_t* payload, size_t n, uint32_t kept, void* out, int mode,
                      uint32_t* errorFlag, cudaStream_t s) {
  if (mode != 0 && n > 0) {
    cudaMemsetAsync(out, 0, n * (mode == 1 ? 4 : 2), s);  // +0 in every float format
  }
  if (kept == 0) return;
  const unsigned grid = gridFor(kept, kThreads, 4);
  withOutMode(mode, [&](auto km) {
    decodeTopKKernel<km.value><<<grid, kThreads, 0, s>>>(payload, n, kept, out, errorFlag);
  });
}

}  // namespace isthmus::kernels::cuda::detail
