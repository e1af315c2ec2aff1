#define SIMT_IMPLEMENTATION
#include "tests/unit/kernels/simt/simt.h"

#include <ucontext.h>

#include <memory>
#include <vector>

namespace simt {
namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr unsigned kMaxThreads = 1024;

struct Barrier {
  unsigned participants = 0, arrived = 0;
  uint64_t generation = 0;
};

struct Fiber {
  ucontext_t context;
  ThreadContext ctx;
  std::unique_ptr<char[]> stack;
  bool done = false;
  Barrier* waitingOn = nullptr;
  uint64_t waitGeneration = 0;
};

struct Warp {
  Barrier barrier;
  uint32_t slots[32];
};

struct Machine {
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  Barrier block;
  std::vector<Warp> warps;
  Fiber* running = nullptr;
  const std::function<void()>* kernel = nullptr;
};

Machine& machine() {
  static Machine m;
  return m;
}

ThreadContext hostContext;  // what self() returns outside a launch

void fiberEntry() {
  Machine& m = machine();
  (*m.kernel)();
  m.running->done = true;
  // Returning resumes the scheduler (uc_link).
}

// The running fiber arrives at `b`; the last to arrive releases everyone and carries on.
void arrive(Barrier& b) {
  Machine& m = machine();
  if (++b.arrived == b.participants) {
    b.arrived = 0;
    ++b.generation;
    return;
  }
  Fiber* f = m.running;
  f->waitingOn = &b;
  f->waitGeneration = b.generation;
  swapcontext(&f->context, &m.scheduler);
}

Warp& myWarp(unsigned* lane) {
  Machine& m = machine();
  const unsigned t = m.running->ctx.threadIdx.x;
  *lane = t % 32;
  return m.warps[t / 32];
}

// Every lane publishes v; after the exchange each lane reads what it needs; a second barrier keeps
// the slots until all have read.
template <typename F>
uint32_t exchange(uint32_t v, F read) {
  unsigned lane;
  Warp& w = myWarp(&lane);
  w.slots[lane] = v;
  arrive(w.barrier);
  uint32_t r = read(w.slots, lane);
  arrive(w.barrier);
  return r;
}

void runBlock(Machine& m, unsigned threads) {
  for (;;) {
    bool progressed = false, left = false;
    for (unsigned i = 0; i < threads; ++i) {
      Fiber& f = m.fibers[i];
      if (f.done) continue;
      left = true;
      if (f.waitingOn && f.waitingOn->generation == f.waitGeneration) continue;
      f.waitingOn = nullptr;
      m.running = &f;
      swapcontext(&m.scheduler, &f.context);
      m.running = nullptr;
      progressed = true;
    }
    if (!left) return;
    if (!progressed) {
      unsigned atBlock = 0, atWarp = 0, finished = 0;
      for (unsigned i = 0; i < threads; ++i) {
        const Fiber& f = m.fibers[i];
        if (f.done) {
          ++finished;
        } else if (f.waitingOn == &m.block) {
          ++atBlock;
        } else {
          ++atWarp;
        }
      }
      throw Deadlock("simt: block " + std::to_string(m.fibers[0].ctx.blockIdx.x) + " of " +
                     std::to_string(threads) + " threads deadlocked: " + std::to_string(atBlock) +
                     " wait at __syncthreads, " + std::to_string(atWarp) +
                     " at a warp collective, " + std::to_string(finished) + " finished");
    }
  }
}

}  // namespace

ThreadContext& self() {
  Machine& m = machine();
  return m.running ? m.running->ctx : hostContext;
}

void syncthreads() { arrive(machine().block); }

void syncwarp() {
  unsigned lane;
  arrive(myWarp(&lane).barrier);
}

uint32_t ballot(bool pred) {
  return exchange(pred ? 1u : 0u, [](const uint32_t* s, unsigned) {
    uint32_t r = 0;
    for (unsigned l = 0; l < 32; ++l) r |= (s[l] & 1u) << l;
    return r;
  });
}

uint32_t shflUp(uint32_t v, unsigned delta) {
  return exchange(v, [delta](const uint32_t* s, unsigned lane) {
    return lane >= delta ? s[lane - delta] : s[lane];
  });
}

uint32_t shflXor(uint32_t v, unsigned laneMask) {
  return exchange(v, [laneMask](const uint32_t* s, unsigned lane) { return s[lane ^ laneMask]; });
}

uint32_t matchAny(uint32_t v) {
  return exchange(v, [](const uint32_t* s, unsigned lane) {
    uint32_t r = 0;
    for (unsigned l = 0; l < 32; ++l) r |= (s[l] == s[lane] ? 1u : 0u) << l;
    return r;
  });
}

uint32_t reduceMax(uint32_t v) {
  return exchange(v, [](const uint32_t* s, unsigned) {
    uint32_t m = s[0];
    for (unsigned l = 1; l < 32; ++l) m = s[l] > m ? s[l] : m;
    return m;
  });
}

void launch(dim3 grid, dim3 block, const std::function<void()>& kernel) {
  if (block.x == 0 || block.x % 32 != 0 || block.x > kMaxThreads || block.y != 1 || block.z != 1 ||
      grid.y != 1 || grid.z != 1) {
    throw std::invalid_argument(
        "simt::launch: blocks of 32..1024 threads (a multiple of 32), "
        "x dimensions only");
  }
  Machine& m = machine();
  if (m.kernel) throw std::logic_error("simt::launch is not reentrant");
  m.kernel = &kernel;
  if (m.fibers.size() < block.x) m.fibers.resize(block.x);
  m.warps.assign(block.x / 32, Warp{});
  try {
    for (unsigned b = 0; b < grid.x; ++b) {
      m.block = Barrier{block.x, 0, 0};
      for (Warp& w : m.warps) w.barrier = Barrier{32, 0, 0};
      for (unsigned t = 0; t < block.x; ++t) {
        Fiber& f = m.fibers[t];
        if (!f.stack) f.stack.reset(new char[kStackBytes]);
        f.ctx = ThreadContext{dim3(t), dim3(b), block, grid};
        f.done = false;
        f.waitingOn = nullptr;
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack.get();
        f.context.uc_stack.ss_size = kStackBytes;
        f.context.uc_link = &m.scheduler;
        makecontext(&f.context, fiberEntry, 0);
      }
      runBlock(m, block.x);
    }
  } catch (...) {
    m.kernel = nullptr;
    throw;
  }
  m.kernel = nullptr;
}

}  // namespace simt
