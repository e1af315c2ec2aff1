// GPU codec throughput beside a device-to-device cudaMemcpyAsync of the same fp32 buffer.
//
// For every size and codec, `reps` rounds each time one copy and then the codec operation with
// CUDA events on one stream, back to back; the table reports medians. Bandwidth = bytes the
// operation must read plus write per second, defined as for the CPU (docs/BENCHMARKS.md); for
// top-k decode-accumulate the acc traffic counts 2 x 32 B per 32-byte sector it touches (the GPU's
// memory access granularity).
// Usage: isthmus_bench_kernels_gpu [maxMiB=256] [reps=20]
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/codec.h"
#include "kernels/cuda_codecs.h"

// bench/kernels/scatter_bound.cu: acc[idx[j]] += val[j] over a top-k message's payload.
void launchScatterBound(const void* payload, uint32_t kept, float* acc, cudaStream_t s);

namespace {

using namespace isthmus;
using namespace isthmus::kernels;

#define CK(x)                                                              \
  do {                                                                     \
    cudaError_t e_ = (x);                                                  \
    if (e_ != cudaSuccess) {                                               \
      std::fprintf(stderr, "%s failed: %s\n", #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                        \
    }                                                                      \
  } while (0)

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int maxMiB = argc > 1 ? std::atoi(argv[1]) : 256;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 20;
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("no CUDA device: nothing measured\n");
    return 0;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d reps per cell, medians\n", prop.name, reps);
  std::printf("%-25s %-10s %6s %10s %12s %7s %7s\n", "codec", "op", "MiB", "GB/s", "d2d GB/s",
              "ratio", "B/elem");
  // "mixed": the same normal data scaled per 1 MiB segment by 10^u, u uniform in [-3, 1] (a
  // gradient's layers differ in scale), so whole tiles pass top-k's sampled threshold and are read
  // directly; the other rows use the plain normal data.
  struct Case {
    const char* codec;
    bool mixed;
  };
  const Case cases[] = {{"fp32", false},
                        {"fp16", false},
                        {"bf16", false},
                        {"int8", false},
                        {"int4", false},
                        {"fp8", false},
                        {"topk:fraction=0.01", false},
                        {"topk:fraction=0.01", true}};
  cudaStream_t s;
  CK(cudaStreamCreate(&s));
  cudaEvent_t e0, e1, e2;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  CK(cudaEventCreate(&e2));
  for (int mib = 1; mib <= maxMiB; mib *= 4) {
    const size_t n = size_t(mib) << 18;
    std::vector<float> hx(n);
    std::mt19937 rng(42);
    std::normal_distribution<float> nd(0, 1);
    for (auto& v : hx) v = nd(rng);
    std::vector<float> hmixed(hx);
    std::uniform_real_distribution<float> ud(-3, 1);
    for (size_t seg = 0; seg < n; seg += 1 << 18) {
      const float scale = std::pow(10.0f, ud(rng));
      for (size_t i = seg; i < n && i < seg + (1 << 18); ++i) hmixed[i] *= scale;
    }
    bool mixedOnDevice = false;
    float *x, *r, *acc, *copy;
    uint8_t* msg;
    CK(cudaMalloc(&x, n * 4));
    CK(cudaMalloc(&r, n * 4));
    CK(cudaMalloc(&acc, n * 4));
    CK(cudaMalloc(&copy, n * 4));
    CK(cudaMalloc(&msg, n * 8 + 64));
    CK(cudaMemcpy(x, hx.data(), n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemset(r, 0, n * 4));
    CK(cudaMemset(acc, 0, n * 4));
    for (const Case& cs : cases) {
      if (cs.mixed != mixedOnDevice) {
        CK(cudaMemcpy(x, cs.mixed ? hmixed.data() : hx.data(), n * 4, cudaMemcpyHostToDevice));
        CK(cudaMemset(r, 0, n * 4));
        mixedOnDevice = cs.mixed;
      }
      const std::string label = std::string(cs.codec) + (cs.mixed ? " mixed" : "");
      const char* name = label.c_str();
      Codec c = Codec::create(cs.codec).value();
      const size_t cap = c.maxEncodedBytes(n, DType::kFloat32);
      ConstBufferView xv(x, n, DType::kFloat32, MemoryKind::kCuda, 0);
      auto w = cuda::encodeWithErrorFeedback(c.spec(), xv, r, msg, cap, s);
      if (!w.ok()) {
        std::printf("%-25s %s\n", name, w.status().toString().c_str());
        cudaGetLastError();
        continue;
      }
      CK(cudaStreamSynchronize(s));
      std::vector<uint8_t> hmsg(cap);
      CK(cudaMemcpy(hmsg.data(), msg, cap, cudaMemcpyDeviceToHost));
      MessageInfo info = inspect(hmsg.data(), cap).value();
      double accBytes = 8.0 * n;
      if (c.id() == CodecId::kTopK) {
        std::set<uint64_t> sectors;
        for (uint32_t j = 0; j < info.kept; ++j) {
          uint32_t idx;
          std::memcpy(&idx, hmsg.data() + kMessageHeaderBytes + 4 * j, 4);
          sectors.insert(idx / 8);
        }
        accBytes = 64.0 * sectors.size();
      }
      float decodeMs = 0;
      for (int op = 0; op < 2; ++op) {
        std::vector<float> tc, tk;
        for (int i = 0; i < reps + 2; ++i) {
          CK(cudaEventRecord(e0, s));
          CK(cudaMemcpyAsync(copy, x, n * 4, cudaMemcpyDeviceToDevice, s));
          CK(cudaEventRecord(e1, s));
          if (op == 0) {
            if (!cuda::encodeWithErrorFeedback(c.spec(), xv, r, msg, cap, s).ok()) return 1;
          } else {
            if (!cuda::decodeAccumulate(info, msg, cap, acc, n, nullptr, s).ok()) return 1;
          }
          CK(cudaEventRecord(e2, s));
          CK(cudaEventSynchronize(e2));
          float a, b;
          CK(cudaEventElapsedTime(&a, e0, e1));
          CK(cudaEventElapsedTime(&b, e1, e2));
          if (i >= 2) {  // two warm-up rounds
            tc.push_back(a);
            tk.push_back(b);
          }
        }
        if (op == 1) decodeMs = median(tk);
        const double bytes = op == 0 ? 12.0 * n + cap : cap + accBytes;
        const double bw = bytes / (median(tk) * 1e-3), copyBw = 8.0 * n / (median(tc) * 1e-3);
        std::printf("%-25s %-10s %6d %10.1f %12.1f %7.3f %7.3f\n", name,
                    op == 0 ? "encode_ef" : "decode_acc", mib, bw / 1e9, copyBw / 1e9, bw / copyBw,
                    bytes / n);
      }
      if (c.id() == CodecId::kTopK) {
        // The same scatter without the decode's checks: the ratio column is bound time over decode
        // time (1.0 = the decode costs nothing beyond the scattered read-modify-write itself).
        std::vector<float> tb;
        for (int i = 0; i < reps + 2; ++i) {
          CK(cudaEventRecord(e1, s));
          launchScatterBound(msg + kMessageHeaderBytes, info.kept, acc, s);
          CK(cudaEventRecord(e2, s));
          CK(cudaEventSynchronize(e2));
          float b;
          CK(cudaEventElapsedTime(&b, e1, e2));
          if (i >= 2) tb.push_back(b);
        }
        const double bytes = cap + accBytes;
        std::printf("%-25s %-10s %6d %10.1f %12s %7.3f %7.3f\n", name, "scatter", mib,
                    bytes / (median(tb) * 1e-3) / 1e9, "(bound)", median(tb) / decodeMs, bytes / n);
      }
    }
    CK(cudaFree(x));
    CK(cudaFree(r));
    CK(cudaFree(acc));
    CK(cudaFree(copy));
    CK(cudaFree(msg));
  }
  return 0;
}
