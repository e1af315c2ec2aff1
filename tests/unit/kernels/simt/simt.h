// A SIMT emulator for unit tests: runs CUDA C++ kernel source on the CPU, so that device code
// (kernels/cuda/*_kernels.cuh) is executed and checked against the CPU references in CI, where
// there is no GPU.
//
// Include this header BEFORE the device code. It defines the CUDA keywords and built-ins the
// device code uses: __global__/__device__/__host__ are empty, __shared__ is `static` (one copy per
// kernel, shared by the threads of the block being run), threadIdx/blockIdx/blockDim/gridDim are
// the running thread's, and __syncthreads, __syncwarp, __ballot_sync, __shfl_up_sync,
// __shfl_xor_sync, __match_any_sync, __reduce_max_sync, atomics, __popc, __ffs and __ldcg behave as
// on a GPU for code that uses them as CUDA requires (every lane of the warp, every thread of the
// block).
//
// simt::launch(grid, block, f) runs f() once per thread: blocks one after another, the threads of
// a block as fibers on the calling thread, switched only at barriers and warp collectives. That
// makes runs deterministic and finds barrier mistakes: a thread that waits at a barrier the others
// never reach is reported as a deadlock (launch throws), and a warp collective reached by part of
// a warp is one too. It does not find data races (nothing runs concurrently) or memory-model
// mistakes; a GPU still has to run the real thing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}  // NOLINT
};

namespace simt {

struct ThreadContext {
  dim3 threadIdx, blockIdx, blockDim, gridDim;
};

// Raised by launch() when the threads of a block cannot all make progress.
struct Deadlock : std::runtime_error {
  using std::runtime_error::runtime_error;
};

ThreadContext& self();
void syncthreads();
void syncwarp();
uint32_t ballot(bool pred);
uint32_t shflUp(uint32_t v, unsigned delta);
uint32_t shflXor(uint32_t v, unsigned laneMask);
uint32_t matchAny(uint32_t v);
uint32_t reduceMax(uint32_t v);

// Runs kernel() for every thread of grid x block (x dimensions only; block.x a multiple of 32,
// at most 1024). Not reentrant: one launch at a time per process.
void launch(dim3 grid, dim3 block, const std::function<void()>& kernel);

}  // namespace simt

#ifndef SIMT_IMPLEMENTATION  // the emulator's own source uses the plain names

// Device code carries nvcc's pragmas (#pragma unroll): build the including target with
// -Wno-unknown-pragmas (GCC does not let a diagnostic pragma silence them).

#define threadIdx (::simt::self().threadIdx)
#define blockIdx (::simt::self().blockIdx)
#define blockDim (::simt::self().blockDim)
#define gridDim (::simt::self().gridDim)
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

inline void __syncthreads() { simt::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { simt::syncwarp(); }
inline unsigned __ballot_sync(unsigned, bool pred) { return simt::ballot(pred); }
inline unsigned __shfl_up_sync(unsigned, unsigned v, int delta) {
  return simt::shflUp(v, static_cast<unsigned>(delta));
}
inline unsigned __shfl_xor_sync(unsigned, unsigned v, int laneMask) {
  return simt::shflXor(v, static_cast<unsigned>(laneMask));
}
inline unsigned __match_any_sync(unsigned, unsigned v) { return simt::matchAny(v); }
inline unsigned __reduce_max_sync(unsigned, unsigned v) { return simt::reduceMax(v); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(unsigned v) { return __builtin_ffs(static_cast<int>(v)); }
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  unsigned old = *p;
  *p = old + v;
  return old;
}
inline unsigned atomicOr(unsigned* p, unsigned v) {
  unsigned old = *p;
  *p = old | v;
  return old;
}
inline unsigned atomicExch(unsigned* p, unsigned v) {
  unsigned old = *p;
  *p = v;
  return old;
}
inline unsigned __ldcg(const unsigned* p) { return *p; }

#endif  // SIMT_IMPLEMENTATION
