// Run-time choice between the AVX2/F16C kernels and the portable ones.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"

namespace isthmus::kernels::cpu {
namespace {

bool cpuHasAvx2() {
#if ISTHMUS_X86_SIMD
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool envForcesPortable() {
  const char* e = std::getenv("ISTHMUS_KERNELS_PORTABLE");
  return e != nullptr && std::strcmp(e, "1") == 0;
}

std::atomic<bool> g_forcePortable{envForcesPortable()};

}  // namespace

bool useAvx2() {
  static const bool has = cpuHasAvx2();
  return has && !g_forcePortable.load(std::memory_order_relaxed);
}

void setForcePortable(bool force) { g_forcePortable.store(force, std::memory_order_relaxed); }

}  // namespace isthmus::kernels::cpu
