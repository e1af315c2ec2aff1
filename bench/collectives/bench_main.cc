// isthmus-bench: the allreduce measured the way nccl-tests measures (sizes swept with -b/-e/-f,
// warm-up, timed iterations, algbw = bytes / time, busbw = algbw * 2(n-1)/n), plus what a
// compressed WAN allreduce needs: bytes sent across centers, the relative error against an exact
// fp32 allreduce computed in the same run, #wrong for exact codecs and bitwise agreement across
// ranks. Run one process per rank under isthmus-run (and its --wan); rank 0 prints.
//
//   isthmus-run --centers 2 --ranks-per-center 2 -- isthmus-bench -b 1M -e 256M -f 4 --codec int8
//
// Timing: before each iteration the input is restored and the ranks meet at a barrier (both
// outside the timed region); an iteration's time is the slowest rank's; the figure is the mean
// over iterations (min and max in --json).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/collectives/bench_util.h"
#include "collectives/communicator.h"
#include "collectives/dtype_math.h"
#include "runtime/core/dtype.h"
#include "runtime/core/format.h"
#include "runtime/core/hash.h"

using namespace isthmus;

namespace {

struct Args {
  size_t minBytes = 1 << 20, maxBytes = 64 << 20;
  double factor = 2;
  int warmup = 2, iters = 5;
  std::string codec = "int8";
  std::string op = "sum";
  std::string dtype = "fp32";
  std::string efKey;
  size_t chunkBytes = 0;
  int lanes = 0;
  double timeout = 600;
  bool json = false;
  std::string jsonPath;
  bool check = true;
  bool mem = false;
};

void usage() {
  std::fprintf(
      stderr,
      "usage: isthmus-bench [-b MIN] [-e MAX] [-f FACTOR] [-w WARMUP] [-n ITERS]\n"
      "  [--codec C] [--op sum|avg] [--dtype fp32|fp16|bf16] [--ef-key K]\n"
      "  [--chunk-bytes B] [--lanes L] [--timeout S] [--json [FILE]] [--no-check] [--mem]\n"
      "sizes take K/M/G suffixes (powers of 1024). --no-check skips the reference run,\n"
      "the input copy and the checks (what --mem wants: only the tensor is allocated).\n"
      "--ef-key K turns error feedback on, with key K/<bytes> per size (one tensor each).\n");
}

Result<Args> parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto next = [&]() -> Result<std::string> {
      if (i + 1 >= argc) return invalidArgumentError(s, " needs a value");
      return std::string(argv[++i]);
    };
    if (s == "-h" || s == "--help") {
      usage();
      std::exit(0);
    } else if (s == "-b" || s == "-e" || s == "--chunk-bytes") {
      ISTHMUS_ASSIGN_OR_RETURN(std::string v, next());
      ISTHMUS_ASSIGN_OR_RETURN(size_t b, bench::parseBytes(v));
      (s == "-b" ? a.minBytes : s == "-e" ? a.maxBytes : a.chunkBytes) = b;
    } else if (s == "-f") {
      ISTHMUS_ASSIGN_OR_RETURN(std::string v, next());
      a.factor = std::atof(v.c_str());
    } else if (s == "--lanes") {
      ISTHMUS_ASSIGN_OR_RETURN(std::string v, next());
      a.lanes = std::atoi(v.c_str());
    } else if (s == "-w" || s == "-n") {
      ISTHMUS_ASSIGN_OR_RETURN(std::string v, next());
      (s == "-w" ? a.warmup : a.iters) = std::atoi(v.c_str());
    } else if (s == "--codec") {
      ISTHMUS_ASSIGN_OR_RETURN(a.codec, next());
    } else if (s == "--op") {
      ISTHMUS_ASSIGN_OR_RETURN(a.op, next());
    } else if (s == "--dtype") {
      ISTHMUS_ASSIGN_OR_RETURN(a.dtype, next());
    } else if (s == "--ef-key") {
      ISTHMUS_ASSIGN_OR_RETURN(a.efKey, next());
    } else if (s == "--timeout") {
      ISTHMUS_ASSIGN_OR_RETURN(std::string v, next());
      a.timeout = std::atof(v.c_str());
    } else if (s == "--json") {
      a.json = true;
      if (i + 1 < argc && argv[i + 1][0] != '-') a.jsonPath = argv[++i];
    } else if (s == "--no-check") {
      a.check = false;
    } else if (s == "--mem") {
      a.mem = true;
    } else {
      usage();
      return invalidArgumentError("unknown argument '", s, "'");
    }
  }
  if (a.factor <= 1 && a.minBytes != a.maxBytes) return invalidArgumentError("-f must be > 1");
  if (a.iters < 1) return invalidArgumentError("-n must be >= 1");
  return a;
}

// Deterministic pseudo-random values in [-1, 1) from (rank, index).
float valueAt(int rank, size_t i) {
  uint64_t x = (static_cast<uint64_t>(rank) << 40) ^ (i * 0x9E3779B97F4A7C15ull);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return static_cast<float>(static_cast<int64_t>(x >> 40) - (1 << 23)) /
         static_cast<float>(1 << 23);
}

void fill(int rank, BufferView b) {
  std::vector<float> tmp(std::min<size_t>(b.count, 1 << 20));
  for (size_t off = 0; off < b.count; off += tmp.size()) {
    size_t n = std::min(tmp.size(), b.count - off);
    for (size_t i = 0; i < n; ++i) tmp[i] = valueAt(rank, off + i);
    coll::fromFloat(tmp.data(), b.slice(off, n));
  }
}

double elementAt(const BufferView& b, size_t i) {
  switch (b.dtype) {
    case DType::kFloat32: return static_cast<const float*>(b.data)[i];
    case DType::kFloat16: return coll::halfToFloat(static_cast<const uint16_t*>(b.data)[i]);
    default: return coll::bf16ToFloat(static_cast<const uint16_t*>(b.data)[i]);
  }
}

Status waitOk(const std::shared_ptr<coll::Work>& w, double timeout) {
  return w->wait(Deadline::afterSeconds(timeout));
}

int run(const Args& a) {
  size_t baseHwm = bench::vmHwmBytes();
  coll::CommunicatorOptions copt;
  copt.timeoutSeconds = a.timeout;
  copt.interCodec = a.codec;
  copt.pipelineChunkBytes = a.chunkBytes;
  copt.lanesPerPeer = a.lanes;
  auto made = coll::Communicator::fromEnv(copt);
  if (!made.ok()) {
    std::fprintf(stderr, "isthmus-bench: %s\n", made.status().toString().c_str());
    return 2;
  }
  coll::Communicator& comm = **made;
  auto dtype = parseDType(a.dtype);
  auto op = coll::parseReduceOp(a.op);
  if (!dtype.ok() || !op.ok()) {
    std::fprintf(stderr, "isthmus-bench: %s\n",
                 (!dtype.ok() ? dtype.status() : op.status()).toString().c_str());
    return 2;
  }
  const int N = comm.worldSize(), me = comm.rank();
  const bool root = me == 0;
  const size_t es = dtypeSize(*dtype);
  const bool exactCodec = a.codec.rfind("fp32", 0) == 0 || comm.numCenters() == 1;
  coll::CollectiveOptions o;
  o.interCodec = a.codec;
  o.errorFeedbackKey = a.efKey;
  coll::CollectiveOptions exact;
  exact.interCodec = "fp32";
  std::FILE* json = nullptr;
  if (root && a.json) json = a.jsonPath.empty() ? stdout : std::fopen(a.jsonPath.c_str(), "w");
  baseHwm = bench::vmHwmBytes();
  if (root) {
    std::printf(
        "# isthmus-bench: %d rank(s) in %d center(s), codec %s, op %s, dtype %s, "
        "warmup %d, iters %d, check %s\n",
        N, comm.numCenters(), a.codec.c_str(), a.op.c_str(), a.dtype.c_str(), a.warmup, a.iters,
        a.check ? "on" : "off");
    std::printf("# plan at %s:\n", humanBytes(a.maxBytes).c_str());
    std::string d = comm.describe(a.maxBytes / es, *dtype, o);
    for (size_t p = 0, q; p < d.size(); p = q + 1) {
      q = d.find('\n', p);
      if (q == std::string::npos) q = d.size();
      std::printf("#   %s\n", d.substr(p, q - p).c_str());
    }
    std::printf("# %12s %12s %5s %4s %9s %10s %8s %8s %10s %10s %7s %6s\n", "size(B)", "count",
                "type", "op", "codec", "time(us)", "algbw", "busbw", "interMB/r", "relerr",
                "#wrong", "agree");
    std::printf("# %12s %12s %5s %4s %9s %10s %8s %8s %10s %10s %7s %6s\n", "", "", "", "", "", "",
                "(GB/s)", "(GB/s)", "(per iter)", "vs fp32", "", "");
  }
  for (size_t bytes = a.minBytes;; bytes = static_cast<size_t>(std::ceil(bytes * a.factor))) {
    if (bytes > a.maxBytes) break;
    const size_t count = bytes / es;
    // Error-feedback state belongs to one tensor: one key per size of the sweep.
    if (!a.efKey.empty()) o.errorFeedbackKey = strCat(a.efKey, "/", bytes);
    std::vector<uint8_t> buf(count * es), input, ref;
    BufferView b{buf.data(), count, *dtype};
    fill(me, b);
    if (a.check) {
      input = buf;
      // The exact fp32 allreduce of the same input, in the same run.
      ref = input;
      Status s =
          waitOk(comm.allreduce(BufferView{ref.data(), count, *dtype}, *op, exact), a.timeout);
      if (!s.ok()) {
        std::fprintf(stderr, "isthmus-bench: reference allreduce: %s\n", s.toString().c_str());
        return 1;
      }
    }
    std::vector<double> times;
    uint64_t interBytes = 0;
    for (int it = 0; it < a.warmup + a.iters; ++it) {
      if (a.check && it > 0) std::memcpy(buf.data(), input.data(), buf.size());
      Status s = waitOk(comm.barrier({}), a.timeout);
      const coll::TrafficStats before = comm.traffic();
      auto t0 = std::chrono::steady_clock::now();
      if (s.ok()) s = waitOk(comm.allreduce(b, *op, o), a.timeout);
      double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!s.ok()) {
        std::fprintf(stderr, "isthmus-bench: rank %d allreduce of %zu bytes: %s\n", me, bytes,
                     s.toString().c_str());
        return 1;
      }
      if (it >= a.warmup) {
        times.push_back(dt);
        interBytes += comm.traffic().interBytesSent - before.interBytesSent;
      }
    }
    // Slowest rank per iteration; bytes summed over ranks.
    std::vector<double> mine(times), all(times.size() * N);
    mine.push_back(static_cast<double>(interBytes));
    std::vector<double> gathered(mine.size() * N);
    Status s =
        waitOk(comm.allGather(ConstBufferView(mine.data(), mine.size() * 8, DType::kUInt8),
                              BufferView{gathered.data(), gathered.size() * 8, DType::kUInt8}, {}),
               a.timeout);
    if (!s.ok()) return 1;
    std::vector<double> iterMax(times.size(), 0.0);
    double interSum = 0, interMax = 0;
    for (int r = 0; r < N; ++r) {
      for (size_t i = 0; i < times.size(); ++i) {
        iterMax[i] = std::max(iterMax[i], gathered[r * mine.size() + i]);
      }
      double ib = gathered[r * mine.size() + times.size()];
      interSum += ib;
      interMax = std::max(interMax, ib);
    }
    double mean = 0;
    for (double t : iterMax) mean += t / iterMax.size();
    const double tmin = *std::min_element(iterMax.begin(), iterMax.end());
    const double tmax = *std::max_element(iterMax.begin(), iterMax.end());
    std::vector<double> sorted(iterMax);
    std::sort(sorted.begin(), sorted.end());
    const size_t h = sorted.size() / 2;
    const double tmedian = sorted.size() % 2 ? sorted[h] : (sorted[h - 1] + sorted[h]) / 2;
    std::string timesJson;
    for (double t : iterMax) timesJson += strCat(timesJson.empty() ? "" : ", ", t);
    const double algbw = bytes / mean / 1e9;
    const double busbw = algbw * 2.0 * (N - 1) / N;
    // Error of the last iteration's result against the exact allreduce; #wrong and agreement.
    double relerr = 0;
    uint64_t wrong = 0;
    int agree = 1;
    if (a.check) {
      BufferView r{ref.data(), count, *dtype};
      double num = 0, den = 0;
      for (size_t i = 0; i < count; ++i) {
        double d = elementAt(b, i) - elementAt(r, i);
        num += d * d;
        den += elementAt(r, i) * elementAt(r, i);
        if (exactCodec && std::memcmp(buf.data() + i * es, ref.data() + i * es, es) != 0) ++wrong;
      }
      relerr = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
      std::vector<uint64_t> hashes(N);
      uint64_t h = fnv1a(buf.data(), buf.size());
      Status hs =
          waitOk(comm.allGather(ConstBufferView(&h, 8, DType::kUInt8),
                                BufferView{hashes.data(), hashes.size() * 8, DType::kUInt8}, {}),
                 a.timeout);
      if (!hs.ok()) return 1;
      for (uint64_t x : hashes) agree &= x == h;
      std::vector<uint64_t> wrongs(N);
      Status ws =
          waitOk(comm.allGather(ConstBufferView(&wrong, 8, DType::kUInt8),
                                BufferView{wrongs.data(), wrongs.size() * 8, DType::kUInt8}, {}),
                 a.timeout);
      if (!ws.ok()) return 1;
      wrong = 0;
      for (uint64_t x : wrongs) wrong += x;
    }
    if (root) {
      std::printf("  %12zu %12zu %5s %4s %9s %10.0f %8.3f %8.3f %10.2f %10.3e %7s %6s\n", bytes,
                  count, a.dtype.c_str(), a.op.c_str(), a.codec.c_str(), mean * 1e6, algbw, busbw,
                  interMax / a.iters / 1e6, relerr,
                  a.check ? (exactCodec ? std::to_string(wrong).c_str() : "-") : "n/a",
                  a.check ? (agree ? "yes" : "NO") : "n/a");
      std::fflush(stdout);
      if (json) {
        std::fprintf(json,
                     "{\"bytes\": %zu, \"count\": %zu, \"dtype\": \"%s\", \"op\": \"%s\", "
                     "\"codec\": \"%s\", \"ranks\": %d, \"centers\": %d, \"time_s\": %.6f, "
                     "\"time_min_s\": %.6f, \"time_max_s\": %.6f, \"time_median_s\": %.6f, "
                     "\"times_s\": [%s], \"algbw_gbps\": %.4f, "
                     "\"busbw_gbps\": %.4f, \"inter_bytes_per_iter_max_rank\": %.0f, "
                     "\"inter_bytes_per_iter_all_ranks\": %.0f, \"relerr\": %.6e, "
                     "\"wrong\": %lld, \"agree\": %s}\n",
                     bytes, count, a.dtype.c_str(), a.op.c_str(), a.codec.c_str(), N,
                     comm.numCenters(), mean, tmin, tmax, tmedian, timesJson.c_str(), algbw, busbw,
                     interMax / a.iters, interSum / a.iters, relerr,
                     a.check && exactCodec ? static_cast<long long>(wrong) : -1LL,
                     a.check ? (agree ? "true" : "false") : "null");
        std::fflush(json);
      }
    }
    if (bytes == a.maxBytes || a.factor <= 1) break;
  }
  if (a.mem) {
    // Peak resident memory over the run minus the resident memory after the communicator was
    // made (libraries, UCX, transports), per rank.
    size_t peak = bench::vmHwmBytes();
    std::vector<double> mine{static_cast<double>(baseHwm), static_cast<double>(peak)};
    std::vector<double> all(2 * N);
    if (waitOk(comm.allGather(ConstBufferView(mine.data(), 16, DType::kUInt8),
                              BufferView{all.data(), all.size() * 8, DType::kUInt8}, {}),
               a.timeout)
            .ok() &&
        root) {
      for (int r = 0; r < N; ++r) {
        std::printf(
            "# memory rank %d: VmHWM %.1f MiB, baseline %.1f MiB, peak - baseline %.1f MiB\n", r,
            all[2 * r + 1] / 1048576.0, all[2 * r] / 1048576.0,
            (all[2 * r + 1] - all[2 * r]) / 1048576.0);
      }
    }
  }
  if (json && json != stdout) std::fclose(json);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto a = parse(argc, argv);
  if (!a.ok()) {
    std::fprintf(stderr, "isthmus-bench: %s\n", a.status().toString().c_str());
    return 2;
  }
  return run(*a);
}
