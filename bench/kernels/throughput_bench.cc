// CPU codec throughput beside memcpy of the same buffer, single thread.
//
// Each iteration times a memcpy of the fp32 input buffer and then the codec operation, back to
// back, so both see the same machine (this host is shared with other builds): the benchmark's
// own time is the codec's, and the counters carry both bandwidths and their ratio. Bandwidth is
// bytes moved per second, the bytes being what the operation must read plus write
// (docs/BENCHMARKS.md, "Kernels"):
//   memcpy           4 + 4 B/element (read src, write dst)
//   encode + EF      in + 4 + 4 + msg/n (read x, read r, write r, write the message)
//   decode-acc       msg/n + 4 + 4 (read message, read and write acc); top-k: msg/n plus
//                    2 x 64 B per cache line of acc it touches
// After the runs, a summary table prints every (op, codec, size) with the ratio to memcpy.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/codec.h"

namespace isthmus::kernels {
namespace {

using Clock = std::chrono::steady_clock;

const char* kCodecs[] = {"fp32", "fp16", "bf16", "int8", "int4", "fp8", "topk:fraction=0.01"};

struct Buffers {
  std::vector<float> x, r, acc, copy;
  std::vector<uint8_t> msg;
};

Buffers& buffersFor(size_t n) {
  static std::map<size_t, Buffers> cache;
  auto it = cache.find(n);
  if (it != cache.end()) return it->second;
  cache.clear();  // keep one size resident: 256 MiB sizes need ~1.3 GB
  Buffers& b = cache[n];
  std::mt19937 rng(42);
  std::normal_distribution<float> d(0.0f, 1.0f);
  b.x.resize(n);
  for (auto& v : b.x) v = d(rng);
  b.r.assign(n, 0.0f);
  b.acc.assign(n, 0.0f);
  b.copy.assign(n, 0.0f);
  b.msg.assign(kMessageHeaderBytes + n * 8 + 64, 0);
  return b;
}

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Bytes of acc traffic for decode-accumulate of msg (dense: 8 per element).
double accBytes(const Codec& c, const std::vector<uint8_t>& msg, size_t n) {
  if (c.id() != CodecId::kTopK) return 8.0 * n;
  auto info = inspect(msg.data(), msg.size());
  std::set<uint64_t> lines;
  for (uint32_t j = 0; j < info->kept; ++j) {
    uint32_t idx;
    std::memcpy(&idx, msg.data() + kMessageHeaderBytes + 4 * j, 4);
    lines.insert(idx / 16);
  }
  return 128.0 * lines.size();
}

void runCodec(benchmark::State& state, const std::string& codecName, bool encode) {
  const size_t n = static_cast<size_t>(state.range(0)) * (1 << 20) / 4;
  Codec c = Codec::create(codecName).value();
  Buffers& b = buffersFor(n);
  const size_t cap = c.maxEncodedBytes(n, DType::kFloat32);
  ConstBufferView xv(b.x.data(), n, DType::kFloat32);
  // A message to decode, and a warm-up of both paths.
  if (!c.encodeWithErrorFeedback(xv, b.r.data(), b.msg.data(), cap).ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  const double codecBytes =
      encode ? 12.0 * n + cap : static_cast<double>(cap) + accBytes(c, b.msg, n);
  double copyTime = 0, codecTime = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    std::memcpy(b.copy.data(), b.x.data(), n * 4);
    benchmark::ClobberMemory();
    auto t1 = Clock::now();
    if (encode) {
      auto w = c.encodeWithErrorFeedback(xv, b.r.data(), b.msg.data(), cap);
      benchmark::DoNotOptimize(w);
    } else {
      Status st = c.decodeAccumulate(b.msg.data(), cap, b.acc.data(), n);
      benchmark::DoNotOptimize(st);
    }
    benchmark::ClobberMemory();
    auto t2 = Clock::now();
    copyTime += seconds(t0, t1);
    codecTime += seconds(t1, t2);
    state.SetIterationTime(seconds(t1, t2));
  }
  const double it = static_cast<double>(state.iterations());
  const double codecBw = codecBytes * it / codecTime, copyBw = 8.0 * n * it / copyTime;
  state.counters["GBps"] = codecBw / 1e9;
  state.counters["memcpy_GBps"] = copyBw / 1e9;
  state.counters["ratio"] = codecBw / copyBw;
  state.counters["B_per_elem"] = codecBytes / n;
}

// Collects every run for the summary table.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  struct Row {
    std::string name;
    double gbps, memcpyGbps, ratio;
    int reps = 0;
  };
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      auto get = [&](const char* k) {
        auto it = r.counters.find(k);
        return it == r.counters.end() ? 0.0 : static_cast<double>(it->second);
      };
      rows_[r.run_name.str()].push_back(
          {r.run_name.str(), get("GBps"), get("memcpy_GBps"), get("ratio")});
    }
  }
  void printSummary() const {
    std::printf(
        "\nSummary (median over repetitions; ratio = codec bandwidth / memcpy bandwidth "
        "measured in the same iterations)\n");
    std::printf("%-44s %10s %12s %8s %6s\n", "benchmark", "GB/s", "memcpy GB/s", "ratio", "reps");
    for (const auto& [name, rs] : rows_) {
      std::vector<Row> v = rs;
      std::sort(v.begin(), v.end(), [](const Row& a, const Row& b) { return a.ratio < b.ratio; });
      const Row& m = v[v.size() / 2];
      std::printf("%-44s %10.2f %12.2f %8.3f %6zu\n", name.c_str(), m.gbps, m.memcpyGbps, m.ratio,
                  v.size());
    }
  }

 private:
  std::map<std::string, std::vector<Row>> rows_;
};

void registerAll() {
  for (const char* codec : kCodecs) {
    for (bool encode : {true, false}) {
      std::string name = std::string(encode ? "encode_ef/" : "decode_acc/") + codec;
      benchmark::RegisterBenchmark(
          name.c_str(), [codec, encode](benchmark::State& s) { runCodec(s, codec, encode); })
          ->RangeMultiplier(4)
          ->Range(1, 256)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace isthmus::kernels

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  isthmus::kernels::registerAll();
  isthmus::kernels::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.printSummary();
  benchmark::Shutdown();
  return 0;
}
