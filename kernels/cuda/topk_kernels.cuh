// Top-k encode on the GPU (device code; topk.cu launches it), selecting exactly what the CPU
// selects (kernels/cpu/topk.cc): the k largest keys |v| as bits (NaN > Inf > finite), ties to the
// lower index, written in index order.
//
// Seven launches, none of which synchronises the host:
//   1. sample (one block): the keys of ~8192 strided v = x + r and a radix select of the one that
//      ~1.3 k elements reach: the threshold t (the same estimate as the CPU). It also zeroes the
//      workspace counters.
//   2. fused pass (the only full read): v = x + r, r = v, and each 4096-element tile writes the
//      (index, key) of its elements with key >= t, in index order, into its own slots. A tile with
//      more candidates than slots keeps its count only and is read directly from then on.
//   3. select over the candidates, on one grid in which each warp owns a contiguous run of tiles:
//      three histogram kernels (radix digits of 11 + 11 + 9 bits, each block picking the previous
//      pass's bin from the complete histogram) give the k-th key T and how many elements equal to
//      T are taken (m); a count kernel counts each warp's keys > T and == T; a write kernel scans
//      those counts and writes every key above T and the first m equal to T, in index order,
//      setting the residual of a sent element to v - v.
// When fewer than k elements reach t (ties, zeros), step 3 reads every tile directly: the exact
// full-array select, in the same kernels. Workspace: cudaMallocAsync on the caller's stream.
//
// Device code only, in CUDA C++ that the unit test tests/unit/kernels/topk_simt_test.cc also
// compiles for the CPU under a SIMT emulator (tests/unit/kernels/simt.h), so that this exact code
// is run against the CPU top-k in every CI run, without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/device_io.cuh"

namespace isthmus::kernels::cuda::detail::topk {

constexpr unsigned kThreads = 256;
constexpr unsigned kWarps = kThreads / 32;
constexpr unsigned kItems = 16;
constexpr unsigned kTile = kThreads * kItems;
constexpr unsigned kBins = 2048;
constexpr unsigned kSample = 8192;
constexpr unsigned kSampleThreads = 1024;
constexpr unsigned kUnroll = 4;       // rounds of 32 items a warp loads before it uses them
constexpr unsigned kBlocksPerSm = 4;  // grid of the select kernels: one wave
constexpr unsigned kFullMask = 0xffffffffu;

// Radix digits of a 31-bit key, most significant first.
__device__ constexpr int digitShift(int pass) { return pass == 0 ? 20 : (pass == 1 ? 9 : 0); }
__device__ constexpr uint32_t digitMask(int pass) { return pass == 2 ? 511u : 2047u; }

// A radix select's progress: keys matching prefix under mask, and the 0-based rank (from the top)
// still sought among them.
struct SelectState {
  uint32_t prefix, mask, rank;
};

struct TopkState {
  uint32_t threshold;
  uint32_t candTotal;       // elements with key >= threshold (in slots or not)
  uint32_t hist[3][kBins];  // per radix pass, summed over the grid
  SelectState sel[4];       // sel[p]: before pass p; sel[3]: the k-th key and its rank
};

template <int kIn, bool kEf>
__device__ __forceinline__ float valueAt(const void* x, const float* r, size_t i) {
  // After the fused pass, r holds v (EF); a plain encode recomputes v from x.
  return kEf ? r[i] : loadIn<kIn>(x, i);
}

// One warp: the bin, counted from the top, that holds the 0-based `rank`; the lane that finds it
// writes the bin and the rank left inside it. `hist` has `bins` (2048 or 512) entries.
__device__ inline void warpPick(const uint32_t* hist, unsigned bins, uint32_t rank, uint32_t* bin,
                                uint32_t* left) {
  const unsigned lane = threadIdx.x & 31;
  const unsigned per = bins / 32;
  const unsigned hi = bins - lane * per;  // lane 0 owns the highest bins
  uint32_t sum = 0;
  for (unsigned b = hi - per; b < hi; ++b) sum += hist[b];
  uint32_t incl = sum;
  for (int o = 1; o < 32; o <<= 1) {
    uint32_t t = __shfl_up_sync(kFullMask, incl, o);
    if (lane >= static_cast<unsigned>(o)) incl += t;
  }
  const uint32_t excl = incl - sum;
  if (rank >= excl && rank < incl) {
    uint32_t l = rank - excl;
    for (unsigned b = hi; b-- > hi - per;) {
      if (l < hist[b]) {
        *bin = b;
        *left = l;
        break;
      }
      l -= hist[b];
    }
  }
}

// ---- 1. threshold from a sample ----------------------------------------------------------------
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kSampleThreads)
    sampleKernel(const void* __restrict__ x, const float* __restrict__ r, size_t samples,
                 size_t stride, uint32_t rho, TopkState* __restrict__ st) {
  __shared__ uint32_t hist[kBins];
  __shared__ uint32_t prefix, mask, rank, bin, left;
  constexpr unsigned kPer = kSample / kSampleThreads;
  uint32_t keys[kPer];
#pragma unroll
  for (unsigned q = 0; q < kPer; ++q) {
    const size_t j = q * kSampleThreads + threadIdx.x;
    float v = 0.0f;
    if (j < samples) {
      v = loadIn<kIn>(x, j * stride);
      if (kEf) v = math::add(v, r[j * stride]);
    }
    keys[q] = math::magnitudeBits(v);
  }
  for (unsigned i = threadIdx.x; i < 3 * kBins; i += kSampleThreads) (&st->hist[0][0])[i] = 0;
  if (threadIdx.x == 0) {
    st->candTotal = 0;
    prefix = 0;
    mask = 0;
    rank = rho;
  }
  for (int pass = 0; pass < 3; ++pass) {
    for (unsigned b = threadIdx.x; b < kBins; b += kSampleThreads) hist[b] = 0;
    if (threadIdx.x == 0) bin = left = 0;
    __syncthreads();
    const uint32_t p = prefix, m = mask;
#pragma unroll
    for (unsigned q = 0; q < kPer; ++q) {
      const size_t j = q * kSampleThreads + threadIdx.x;
      if (j < samples && (keys[q] & m) == p) {
        atomicAdd(&hist[(keys[q] >> digitShift(pass)) & digitMask(pass)], 1u);
      }
    }
    __syncthreads();
    if (threadIdx.x < 32) warpPick(hist, digitMask(pass) + 1, rank, &bin, &left);
    __syncthreads();
    if (threadIdx.x == 0) {
      prefix |= bin << digitShift(pass);
      mask |= digitMask(pass) << digitShift(pass);
      rank = left;
    }
  }
  if (threadIdx.x == 0) st->threshold = prefix > 1 ? prefix : 1;
}

// ---- 2. fused EF pass with per-tile candidate slots --------------------------------------------
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads)
    fusedCandKernel(const void* __restrict__ x, size_t n, float* __restrict__ r,
                    TopkState* __restrict__ st, uint32_t capTile, uint32_t* __restrict__ candIdx,
                    uint32_t* __restrict__ candKey, uint32_t* __restrict__ tileCount) {
  __shared__ uint32_t counts[kItems][kWarps];
  __shared__ uint32_t total;
  const uint32_t t = st->threshold;
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  const size_t base = size_t{blockIdx.x} * kTile;
  uint32_t ballots[kItems], keys[kItems];
#pragma unroll
  for (unsigned j = 0; j < kItems; ++j) {
    const size_t i = base + j * kThreads + threadIdx.x;
    bool flag = false;
    keys[j] = 0;
    if (i < n) {
      float v = loadIn<kIn>(x, i);
      if (kEf) {
        v = math::add(v, r[i]);
        r[i] = v;
      }
      keys[j] = math::magnitudeBits(v);
      flag = keys[j] >= t;
    }
    ballots[j] = __ballot_sync(kFullMask, flag);
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
      uint32_t v = __shfl_up_sync(kFullMask, incl, o);
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
  const size_t slot0 = size_t{blockIdx.x} * capTile;
#pragma unroll
  for (unsigned j = 0; j < kItems; ++j) {
    if (ballots[j] & (1u << lane)) {
      const uint32_t pos = counts[j][warp] + __popc(ballots[j] & lower);
      if (pos < capTile) {
        candIdx[slot0 + pos] = static_cast<uint32_t>(base + j * kThreads + threadIdx.x);
        candKey[slot0 + pos] = keys[j];
      }
    }
  }
  if (threadIdx.x == 0) {
    tileCount[blockIdx.x] = total;  // above capTile: the tile is read directly
    if (total) atomicAdd(&st->candTotal, total);
  }
}

// ---- 3. select, count and write: five launches of one grid -------------------------------------
// Warp w of W in the grid owns the tiles [w * tiles / W, (w + 1) * tiles / W). Every kernel below
// runs on the same grid, so a warp walks the same tiles in each; what one kernel leaves for the
// next (global histograms, selections, totals) is complete when the next starts.
struct SelectArgs {
  const void* x;
  float* r;
  size_t n;
  size_t tiles;
  uint32_t kept;
  uint32_t capTile;
  uint32_t* tileCount;  // per tile: elements with key >= threshold (fused pass)
  uint32_t* candIdx;    // per tile: capTile slots of candidate indices, then their keys
  uint32_t* candKey;
  TopkState* st;
  uint32_t* blockTotals;  // 2 per block: keys > T, keys == T
  uint32_t* warpTotals;   // 2 per warp
  uint8_t* payload;
};

struct TileRange {
  size_t begin, end;
};

__device__ __forceinline__ TileRange warpTiles(size_t tiles) {
  // Contiguous and in index order, floor(tiles / warps) or one more each.
  const size_t warps = size_t{gridDim.x} * kWarps;
  const size_t w = size_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  return {w * tiles / warps, (w + 1) * tiles / warps};
}

// Fewer than k elements reached the threshold: every tile is read directly. Written by the fused
// pass, an earlier launch, so every block sees the same value.
__device__ __forceinline__ bool allDirect(const SelectArgs& a) { return a.st->candTotal < a.kept; }

// The items of tile t, in index order: its candidate slots, or all of its elements when it is read
// directly (it overflowed its slots, or every tile is). Reading a superset of the candidates keeps
// the select exact: the k largest keys are all candidates. Calls f(key, valid, index) once per
// round of 32 items on every lane of the warp (ballots inside f are safe: the trip count is uniform
// over the warp); index is meaningful only where valid.
template <int kIn, bool kEf, typename F>
__device__ __forceinline__ void walkTile(const SelectArgs& a, bool everyTile, size_t t, F&& f) {
  const unsigned lane = threadIdx.x & 31;
  const uint32_t raw = a.tileCount[t];
  const bool direct = everyTile || raw > a.capTile;
  const size_t first = t * kTile;
  const uint32_t count =
      direct ? static_cast<uint32_t>(a.n - first < kTile ? a.n - first : kTile) : raw;
  const size_t slot0 = t * a.capTile;
  for (uint32_t e0 = 0; e0 < count; e0 += 32 * kUnroll) {
    uint32_t keys[kUnroll];
    size_t idx[kUnroll];
#pragma unroll
    for (unsigned u = 0; u < kUnroll; ++u) {
      const uint32_t e = e0 + u * 32 + lane;
      keys[u] = 0;
      idx[u] = 0;
      if (e < count) {
        if (direct) {
          idx[u] = first + e;
          keys[u] = math::magnitudeBits(valueAt<kIn, kEf>(a.x, a.r, idx[u]));
        } else {
          idx[u] = a.candIdx[slot0 + e];
          keys[u] = a.candKey[slot0 + e];
        }
      }
    }
#pragma unroll
    for (unsigned u = 0; u < kUnroll; ++u) f(keys[u], e0 + u * 32 + lane < count, idx[u]);
  }
}

// Block-wide: the selection after `pass` from the one before it and that pass's global histogram
// (complete: an earlier launch wrote it). Every block computes the same result. `hist` is the
// block's kBins shared words, free again when this returns.
__device__ inline SelectState advance(const TopkState* st, int pass, SelectState prev,
                                      uint32_t* hist) {
  __shared__ uint32_t bin, left;
  const uint32_t digit = digitMask(pass);
  for (unsigned b = threadIdx.x; b <= digit; b += kThreads) hist[b] = st->hist[pass][b];
  if (threadIdx.x == 0) bin = left = 0;
  __syncthreads();
  if (threadIdx.x < 32) warpPick(hist, digit + 1, prev.rank, &bin, &left);
  __syncthreads();
  const SelectState next{prev.prefix | (bin << digitShift(pass)),
                         prev.mask | (digit << digitShift(pass)), left};
  __syncthreads();
  return next;
}

// Pass `pass` of the radix select: sel[pass] from the previous pass, then this pass's histogram of
// the matching keys' digit.
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads) histKernel(SelectArgs a, int pass) {
  __shared__ uint32_t hist[kBins];
  const unsigned lane = threadIdx.x & 31;
  SelectState s{0, 0, a.kept - 1};
  if (pass > 0) s = advance(a.st, pass - 1, a.st->sel[pass - 1], hist);
  if (blockIdx.x == 0 && threadIdx.x == 0) a.st->sel[pass] = s;
  const int shift = digitShift(pass);
  const uint32_t digit = digitMask(pass);
  for (unsigned b = threadIdx.x; b < kBins; b += kThreads) hist[b] = 0;
  __syncthreads();
  const bool everyTile = allDirect(a);
  const TileRange tr = warpTiles(a.tiles);
  for (size_t t = tr.begin; t < tr.end; ++t) {
    walkTile<kIn, kEf>(a, everyTile, t, [&](uint32_t k, bool valid, size_t) {
      // Candidates share their top digits: one shared atomic per distinct bin in the warp.
      const bool counted = valid && (k & s.mask) == s.prefix;
      const uint32_t b = counted ? (k >> shift) & digit : kBins;
      const uint32_t peers = __match_any_sync(kFullMask, b);
      if (counted && lane == static_cast<unsigned>(__ffs(peers) - 1)) {
        atomicAdd(&hist[b], static_cast<uint32_t>(__popc(peers)));
      }
    });
  }
  __syncthreads();
  for (unsigned b = threadIdx.x; b <= digit; b += kThreads) {
    if (hist[b]) atomicAdd(&a.st->hist[pass][b], hist[b]);
  }
}

// The k-th key T (sel[3]) from the last pass; then each warp counts its keys > T and == T.
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads) countKernel(SelectArgs a) {
  __shared__ uint32_t hist[kBins];
  __shared__ uint32_t warpGt[kWarps], warpEq[kWarps];
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  const SelectState s = advance(a.st, 2, a.st->sel[2], hist);
  if (blockIdx.x == 0 && threadIdx.x == 0) a.st->sel[3] = s;
  const uint32_t T = s.prefix;
  const bool everyTile = allDirect(a);
  const TileRange tr = warpTiles(a.tiles);
  uint32_t gt = 0, eq = 0;
  for (size_t t = tr.begin; t < tr.end; ++t) {
    walkTile<kIn, kEf>(a, everyTile, t, [&](uint32_t k, bool valid, size_t) {
      gt += __popc(__ballot_sync(kFullMask, valid && k > T));
      eq += __popc(__ballot_sync(kFullMask, valid && k == T));
    });
  }
  if (lane == 0) {
    const size_t w = size_t{blockIdx.x} * kWarps + warp;
    a.warpTotals[2 * w] = warpGt[warp] = gt;
    a.warpTotals[2 * w + 1] = warpEq[warp] = eq;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    uint32_t g = 0, e = 0;
    for (unsigned w = 0; w < kWarps; ++w) {
      g += warpGt[w];
      e += warpEq[w];
    }
    a.blockTotals[2 * blockIdx.x] = g;
    a.blockTotals[2 * blockIdx.x + 1] = e;
  }
}

// Every key > T and the first m = rank + 1 keys == T, in index order. The slot of a taken key is
// (keys > T before it) + min(keys == T before it, m).
template <int kIn, bool kEf>
__global__ void __launch_bounds__(kThreads) writeKernel(SelectArgs a) {
  __shared__ uint32_t blockGt, blockEq;
  const unsigned lane = threadIdx.x & 31, warp = threadIdx.x / 32;
  const SelectState s = a.st->sel[3];
  const uint32_t T = s.prefix;
  const uint32_t m = s.rank + 1;
  if (threadIdx.x == 0) blockGt = blockEq = 0;
  __syncthreads();
  // Exclusive prefix of this warp: the blocks before this one, then the warps before it here.
  uint32_t g = 0, e = 0;
  for (unsigned b = threadIdx.x; b < blockIdx.x; b += kThreads) {
    g += a.blockTotals[2 * b];
    e += a.blockTotals[2 * b + 1];
  }
  for (int o = 16; o > 0; o >>= 1) {
    g += __shfl_xor_sync(kFullMask, g, o);
    e += __shfl_xor_sync(kFullMask, e, o);
  }
  if (lane == 0 && (g || e)) {
    atomicAdd(&blockGt, g);
    atomicAdd(&blockEq, e);
  }
  __syncthreads();
  uint32_t gtBefore = blockGt, eqBefore = blockEq;
  for (unsigned w = 0; w < warp; ++w) {
    const size_t gw = size_t{blockIdx.x} * kWarps + w;
    gtBefore += a.warpTotals[2 * gw];
    eqBefore += a.warpTotals[2 * gw + 1];
  }
  const uint32_t lower = (1u << lane) - 1u;
  uint32_t* idxOut = reinterpret_cast<uint32_t*>(a.payload);
  float* valOut = reinterpret_cast<float*>(a.payload + size_t{a.kept} * 4);
  const bool everyTile = allDirect(a);
  const TileRange tr = warpTiles(a.tiles);
  for (size_t t = tr.begin; t < tr.end; ++t) {
    walkTile<kIn, kEf>(a, everyTile, t, [&](uint32_t k, bool valid, size_t i) {
      const uint32_t gtBallot = __ballot_sync(kFullMask, valid && k > T);
      const uint32_t eqBallot = __ballot_sync(kFullMask, valid && k == T);
      const uint32_t myGt = gtBefore + __popc(gtBallot & lower);
      const uint32_t myEq = eqBefore + __popc(eqBallot & lower);
      const bool take = valid && (k > T || (k == T && myEq < m));
      const uint32_t slot = myGt + (myEq < m ? myEq : m);
      if (take && slot < a.kept) {
        const float v = valueAt<kIn, kEf>(a.x, a.r, i);
        idxOut[slot] = static_cast<uint32_t>(i);
        valOut[slot] = v;
        if (kEf) a.r[i] = math::sub(v, v);
      }
      gtBefore += __popc(gtBallot);
      eqBefore += __popc(eqBallot);
    });
  }
}

// Decode: scatter the kept values; an index out of range or not increasing raises *errorFlag.
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

inline size_t alignUp(size_t b) { return (b + 255) & ~size_t{255}; }

// The sizes and workspace layout of one encode of n elements keeping `kept` on a GPU with `sms`
// multiprocessors (host side).
struct Plan {
  size_t samples, stride;  // the threshold sample
  uint32_t rho;            // the sample rank taken as the threshold
  uint32_t capTile;        // candidate slots per tile
  size_t tiles, grid;      // tiles of kTile elements; blocks of the select kernels
  size_t bytes;            // workspace
  size_t oState, oCount, oIdx, oKey, oBlocks, oWarps;
};

inline Plan plan(size_t n, uint32_t kept, int sms) {
  Plan p{};
  // Sample and slot sizing: the same threshold estimate as the CPU.
  p.samples = n < kSample ? n : kSample;
  p.stride = n / p.samples;
  double want = static_cast<double>(kept) / static_cast<double>(n) * p.samples * 1.3 + 16;
  p.rho = static_cast<uint32_t>(want < p.samples - 1 ? want : p.samples - 1);
  double capD = 2.0 * kTile * (p.rho + 1.0) / p.samples + 64;
  p.capTile = capD >= kTile ? kTile : ((static_cast<uint32_t>(capD) + 31) & ~31u);
  p.tiles = (n + kTile - 1) / kTile;
  // One wave of kBlocksPerSm blocks per SM, and no more than one tile per warp.
  p.grid = static_cast<size_t>(sms > 0 ? sms : 1) * kBlocksPerSm;
  const size_t enough = (p.tiles + kWarps - 1) / kWarps;
  if (p.grid > enough) p.grid = enough;
  size_t off = 0;
  auto carve = [&](size_t bytes) {
    size_t o = off;
    off += alignUp(bytes);
    return o;
  };
  p.oState = carve(sizeof(TopkState));
  p.oCount = carve(p.tiles * 4);
  p.oIdx = carve(p.tiles * p.capTile * 4);
  p.oKey = carve(p.tiles * p.capTile * 4);
  p.oBlocks = carve(p.grid * 8);
  p.oWarps = carve(p.grid * kWarps * 8);
  p.bytes = off;
  return p;
}

// The select kernels' arguments over a workspace `ws` laid out by `p`.
inline SelectArgs selectArgs(const Plan& p, uint8_t* ws, const void* x, float* r, size_t n,
                             uint32_t kept, uint8_t* payload) {
  return SelectArgs{x,
                    r,
                    n,
                    p.tiles,
                    kept,
                    p.capTile,
                    reinterpret_cast<uint32_t*>(ws + p.oCount),
                    reinterpret_cast<uint32_t*>(ws + p.oIdx),
                    reinterpret_cast<uint32_t*>(ws + p.oKey),
                    reinterpret_cast<TopkState*>(ws + p.oState),
                    reinterpret_cast<uint32_t*>(ws + p.oBlocks),
                    reinterpret_cast<uint32_t*>(ws + p.oWarps),
                    payload};
}

}  // namespace isthmus::kernels::cuda::detail::topk
