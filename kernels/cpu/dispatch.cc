// Run-time choice between the AVX2/F16C kernels and the portable ones.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"

#if ISTHMUS_X86_SIMD
#include <cpuid.h>
#endif

namespace isthmus::kernels::cpu {
namespace {

bool cpuHasAvx2() {
#if ISTHMUS_X86_SIMD
  __builtin_cpu_init();
  // avx2 through the builtin (it also checks that the OS saves YMM state); F16C from CPUID leaf 1
  // ECX bit 29, since clang's builtin does not know "f16c".
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
  return __builtin_cpu_supports("avx2") && f16c;
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
