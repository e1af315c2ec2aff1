// Top-k on the GPU, selecting exactly what the CPU selects (kernels/cpu/topk.cc): the k largest
// keys |v| as bits (NaN > Inf > finite), ties to the lower index, written in index order.
//
// Every size that depends on the data stays on the device, so nothing synchronises the host:
//   1. fused pass: v = x + r, r = v, histogram of key bits 30..20 (2048 bins)
//   2. two more histogram passes over bits 19..9 and 8..0 among keys matching the prefix so far;
//      after each, one warp finds the bin holding rank k-1 -> the exact k-th key T and how many
//      elements equal to T are taken (m)
//   3. per 4096-element tile: count keys > T and == T; scan the tile counts
//   4. per tile: block scans give each selected element its output slot; write index and value,
//      and set the residual of a sent element to v - v.
// Workspace comes from cudaMallocAsync on the caller's stream.
#include <cub/block/block_scan.cuh>

#include "kernels/cuda/common.cuh"

namespace isthmus::kernels::cuda::detail {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kItems = 16;
constexpr unsigned kTile = kThreads * kItems;
constexpr unsigned kBins = 2048;

struct SelectState {
  uint32_t prefix;
  uint32_t mask;
  uint32_t rank;  // remaining 0-based rank inside the current prefix
  uint32_t pad;
};

__device__ __forceinline__ uint32_t keyOf(float v) { return math::floatBits(v) & 0x7fffffffu; }

template <int kIn, bool kEf>
__device__ __forceinline__ float valueAt(const void* x, const float* r, size_t i) {
  // After the fused pass, r holds v (EF); a plain encode recomputes v from x.
  return kEf ? r[i] : loadIn<kIn>(x, i);
}

template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads)
    fusedHistKernel(const void* __restrict__ x, size_t n, float* __restrict__ r,
                    uint32_t* __restrict__ hist) {
  __shared__ uint32_t local[kBins];
  for (unsigned b = threadIdx.x; b < kBins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    float v = loadIn<kIn>(x, i);
    if (kEf) {
      v = math::add(v, r[i]);
      r[i] = v;
    }
    atomicAdd(&local[keyOf(v) >> 20], 1u);
  }
  __syncthreads();
  for (unsigned b = threadIdx.x; b < kBins; b += blockDim.x) {
    if (local[b]) atomicAdd(&hist[b], local[b]);
  }
}

template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads)
    refineHistKernel(const void* __restrict__ x, size_t n, const float* __restrict__ r,
                     const SelectState* __restrict__ st, int shift, uint32_t binMask,
                     uint32_t* __restrict__ hist) {
  __shared__ uint32_t local[kBins];
  for (unsigned b = threadIdx.x; b < kBins; b += blockDim.x) local[b] = 0;
  __syncthreads();
  const uint32_t prefix = st->prefix, mask = st->mask;
  const size_t stride = size_t{gridDim.x} * blockDim.x;
  for (size_t i = size_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    uint32_t k = keyOf(valueAt<kIn, kEf>(x, r, i));
    if ((k & mask) == prefix) atomicAdd(&local[(k >> shift) & binMask], 1u);
  }
  __syncthreads();
  for (unsigned b = threadIdx.x; b < kBins; b += blockDim.x) {
    if (local[b]) atomicAdd(&hist[b], local[b]);
  }
}

// One warp: find the bin (from the top) that holds st->rank; update prefix, mask and rank.
__global__ void pickBinKernel(const uint32_t* __restrict__ hist, unsigned bins, int shift,
                              SelectState* st) {
  const unsigned lane = threadIdx.x;
  const unsigned per = bins / 32;  // bins is 2048 or 512
  // Lane l owns bins [bins - (l+1)*per, bins - l*per): lane 0 the highest.
  uint32_t sum = 0;
  const unsigned hi = bins - lane * per;
  for (unsigned b = hi - per; b < hi; ++b) sum += hist[b];
  uint32_t incl = sum;
  for (int o = 1; o < 32; o <<= 1) {
    uint32_t t = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= static_cast<unsigned>(o)) incl += t;
  }
  const uint32_t rank = st->rank;
  const uint32_t excl = incl - sum;
  const bool mine = rank >= excl && rank < incl;
  __syncwarp();  // every lane has read st->rank before one of them rewrites it
  if (mine) {
    uint32_t left = rank - excl;
    for (unsigned b = hi; b-- > hi - per;) {
      if (left < hist[b]) {
        st->prefix |= b << shift;
        st->mask |= (bins - 1) << shift;
        st->rank = left;
        break;
      }
      left -= hist[b];
    }
  }
}

template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads)
    tileCountKernel(const void* __restrict__ x, size_t n, const float* __restrict__ r,
                    const SelectState* __restrict__ st, uint32_t* __restrict__ gt,
                    uint32_t* __restrict__ eq) {
  using Reduce = cub::BlockScan<uint32_t, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const uint32_t t = st->prefix;
  const size_t base = size_t{blockIdx.x} * kTile;
  uint32_t g = 0, e = 0;
  for (unsigned j = 0; j < kItems; ++j) {
    size_t i = base + j * kThreads + threadIdx.x;
    if (i < n) {
      uint32_t k = keyOf(valueAt<kIn, kEf>(x, r, i));
      g += k > t;
      e += k == t;
    }
  }
  uint32_t packed = (g << 16) | e;  // at most 4096 each
  uint32_t total;
  Reduce(tmp).ExclusiveSum(packed, packed, total);
  if (threadIdx.x == 0) {
    gt[blockIdx.x] = total >> 16;
    eq[blockIdx.x] = total & 0xffffu;
  }
}

// Exclusive scan of both count arrays in place, by one block.
constexpr unsigned kScanThreads = 256;
__global__ void __launch_bounds__(kScanThreads)
    tileScanKernel(uint32_t* __restrict__ gt, uint32_t* __restrict__ eq, size_t tiles) {
  using Scan = cub::BlockScan<unsigned long long, kScanThreads>;
  __shared__ typename Scan::TempStorage tmp;
  __shared__ unsigned long long carry[2];
  if (threadIdx.x == 0) carry[0] = carry[1] = 0;
  __syncthreads();
  for (size_t base = 0; base < tiles; base += kScanThreads) {
    size_t i = base + threadIdx.x;
    for (int a = 0; a < 2; ++a) {
      uint32_t* arr = a == 0 ? gt : eq;
      unsigned long long v = i < tiles ? arr[i] : 0, excl, total;
      Scan(tmp).ExclusiveSum(v, excl, total);
      __syncthreads();
      if (i < tiles) arr[i] = static_cast<uint32_t>(carry[a] + excl);
      __syncthreads();
      if (threadIdx.x == 0) carry[a] += total;
      __syncthreads();
    }
  }
}

template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads)
    tileWriteKernel(const void* __restrict__ x, size_t n, float* __restrict__ r,
                    const SelectState* __restrict__ st, const uint32_t* __restrict__ gtBefore,
                    const uint32_t* __restrict__ eqBefore, uint32_t kept,
                    uint8_t* __restrict__ payload) {
  using Scan = cub::BlockScan<uint32_t, kThreads>;
  __shared__ typename Scan::TempStorage tmp;
  const uint32_t t = st->prefix;
  const uint32_t m = st->rank + 1;  // elements equal to T that are sent
  const size_t base = size_t{blockIdx.x} * kTile + size_t{threadIdx.x} * kItems;  // blocked
  uint32_t keys[kItems];
  float vals[kItems];
  uint32_t e = 0;
  for (unsigned j = 0; j < kItems; ++j) {
    size_t i = base + j;
    vals[j] = i < n ? valueAt<kIn, kEf>(x, r, i) : 0.0f;
    keys[j] = i < n ? keyOf(vals[j]) : 0u;
    if (i >= n) keys[j] = 0xffffffffu;  // never selected: marks padding
    e += i < n && keys[j] == t;
  }
  uint32_t eqSeen;
  Scan(tmp).ExclusiveSum(e, eqSeen);
  __syncthreads();
  eqSeen += eqBefore[blockIdx.x];
  bool sel[kItems];
  uint32_t s = 0;
  for (unsigned j = 0; j < kItems; ++j) {
    bool pad = keys[j] == 0xffffffffu;
    bool take = !pad && (keys[j] > t || (keys[j] == t && eqSeen < m));
    if (!pad && keys[j] == t) ++eqSeen;
    sel[j] = take;
    s += take;
  }
  uint32_t slot;
  Scan(tmp).ExclusiveSum(s, slot);
  const uint32_t eqTile = eqBefore[blockIdx.x];
  slot += gtBefore[blockIdx.x] + (eqTile < m ? eqTile : m);
  uint32_t* idx = reinterpret_cast<uint32_t*>(payload);
  float* out = reinterpret_cast<float*>(payload + size_t{kept} * 4);
  for (unsigned j = 0; j < kItems; ++j) {
    if (!sel[j] || slot >= kept) continue;
    idx[slot] = static_cast<uint32_t>(base + j);
    out[slot] = vals[j];
    if (kEf) r[base + j] = math::sub(vals[j], vals[j]);
    ++slot;
  }
}

__global__ void initStateKernel(SelectState* st, uint32_t rank) {
  *st = SelectState{0, 0, rank, 0};
}

template <int kIn, bool kEf>
Status runTopK(uint32_t kept, const void* x, size_t n, float* r, uint8_t* payload, cudaStream_t s) {
  const size_t tiles = (n + kTile - 1) / kTile;
  const size_t wsBytes = kBins * 4 + sizeof(SelectState) + 2 * tiles * 4;
  void* ws = nullptr;
  cudaError_t e = cudaMallocAsync(&ws, wsBytes, s);
  if (e != cudaSuccess) {
    return cudaError("kernels::cuda topk: cudaMallocAsync(", wsBytes,
                     ") failed: ", cudaGetErrorString(e));
  }
  uint32_t* hist = static_cast<uint32_t*>(ws);
  SelectState* st = reinterpret_cast<SelectState*>(hist + kBins);
  uint32_t* gt = reinterpret_cast<uint32_t*>(st + 1);
  uint32_t* eq = gt + tiles;
  cudaMemsetAsync(hist, 0, kBins * 4, s);
  initStateKernel<<<1, 1, 0, s>>>(st, kept - 1);  // a kernel argument: no pageable copy
  const unsigned grid = gridFor(n, kThreads, 16);
  fusedHistKernel<kIn, kEf><<<grid, kThreads, 0, s>>>(x, n, r, hist);
  pickBinKernel<<<1, 32, 0, s>>>(hist, 2048, 20, st);
  cudaMemsetAsync(hist, 0, kBins * 4, s);
  refineHistKernel<kIn, kEf><<<grid, kThreads, 0, s>>>(x, n, r, st, 9, 2047, hist);
  pickBinKernel<<<1, 32, 0, s>>>(hist, 2048, 9, st);
  cudaMemsetAsync(hist, 0, kBins * 4, s);
  refineHistKernel<kIn, kEf><<<grid, kThreads, 0, s>>>(x, n, r, st, 0, 511, hist);
  pickBinKernel<<<1, 32, 0, s>>>(hist, 512, 0, st);
  tileCountKernel<kIn, kEf><<<static_cast<unsigned>(tiles), kThreads, 0, s>>>(x, n, r, st, gt, eq);
  tileScanKernel<<<1, kScanThreads, 0, s>>>(gt, eq, tiles);
  tileWriteKernel<kIn, kEf>
      <<<static_cast<unsigned>(tiles), kThreads, 0, s>>>(x, n, r, st, gt, eq, kept, payload);
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
  if (n > (size_t{1} << 32) - 1 || (n + kTile - 1) / kTile > 0x7fffffffu) {
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
