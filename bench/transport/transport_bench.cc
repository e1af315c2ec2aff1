// isthmus_transport_bench: UCX transport bandwidth / latency between two ranks.
//
//   isthmus_transport_bench --mode bw|lat [--sizes 4096,65536,...] [--lanes L] [--chunk BYTES]
//                           [--window-mb MB] [--bytes-per-size MB] [--iters N] [--warmup N]
//                           [--link-gbps G --link-rtt-ms MS]
//
// Without RANK/WORLD_SIZE in the environment it forks rank 1 itself and hosts a TCP store on
// loopback; under isthmus-run (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) each rank is a
// process of the launcher, e.g. in two emulated centers with --wan. Rank 0 prints one line per
// size: "<bytes> <MB/s> <Gbit/s> <usec>" (MB = 2^20 bytes, as ucx_perftest counts). Bandwidth is
// measured at the sender from the first post to the receiver's acknowledgement of the last message.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/store/tcp_store.h"
#include "runtime/transport/ucx/ucx_transport.h"

namespace isthmus {
namespace {

struct Args {
  std::string mode = "bw";
  std::vector<size_t> sizes;
  int lanes = 1;
  size_t chunk = 0;     // 0: the transport's defaults (1 MiB eager, 4 MiB rendezvous)
  double windowMb = 0;  // per lane; 0 = default
  double bytesPerSizeMb = 1024;
  int iters = 0;        // 0: from bytesPerSizeMb
  int warmup = 2;       // messages per size before timing
  double linkGbps = 0;  // > 0: windows from this link's bandwidth-delay product
  double linkRttMs = 0;
};

std::vector<size_t> defaultSizes() {
  std::vector<size_t> s;
  for (size_t b = 4096; b <= (256u << 20); b *= 4) s.push_back(b);
  return s;
}

bool parse(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--mode") {
      a->mode = next();
    } else if (k == "--sizes") {
      std::stringstream ss(next());
      std::string item;
      while (std::getline(ss, item, ',')) a->sizes.push_back(std::stoull(item));
    } else if (k == "--lanes") {
      a->lanes = std::stoi(next());
    } else if (k == "--chunk") {
      a->chunk = std::stoull(next());
    } else if (k == "--window-mb") {
      a->windowMb = std::stod(next());
    } else if (k == "--iters") {
      a->iters = std::stoi(next());
    } else if (k == "--warmup") {
      a->warmup = std::stoi(next());
    } else if (k == "--link-gbps") {
      a->linkGbps = std::stod(next());
    } else if (k == "--link-rtt-ms") {
      a->linkRttMs = std::stod(next());
    } else if (k == "--bytes-per-size") {
      a->bytesPerSizeMb = std::stod(next());
    } else {
      std::fprintf(stderr, "unknown argument %s\n", k.c_str());
      return false;
    }
  }
  if (a->sizes.empty()) a->sizes = defaultSizes();
  return a->mode == "bw" || a->mode == "lat";
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Status check(Status st, const char* what) {
  if (!st.ok()) std::fprintf(stderr, "%s: %s\n", what, st.toString().c_str());
  return st;
}

constexpr uint64_t kAck = 1ull << 62;

int runRank(const Args& a, int rank, std::shared_ptr<Store> store) {
  UcxTransportOptions o;
  o.rank = rank;
  o.size = 2;
  o.store = store;
  o.jobId = "transport-bench";
  o.secret = std::getenv("ISTHMUS_JOB_SECRET") ? "" : "bench-secret";
  if (a.chunk > 0) o.chunkBytes = o.rndvChunkBytes = a.chunk;
  o.defaultLink.lanes = a.lanes;
  if (a.linkGbps > 0) {
    o.defaultLink = linkParamsFromRate(a.linkGbps, a.linkRttMs, a.lanes, o.chunkBytes);
  }
  if (a.windowMb > 0)
    o.defaultLink.windowBytesPerLane = static_cast<size_t>(a.windowMb * (1 << 20));
  auto t = UcxTransport::create(o, Deadline::afterSeconds(60));
  if (!t.ok()) {
    std::fprintf(stderr, "rank %d: %s\n", rank, t.status().toString().c_str());
    return 1;
  }
  Transport& tr = **t;
  if (rank == 0) {
    std::printf("# %s\n# mode=%s  columns: bytes MB/s Gbit/s usec\n", tr.describe().c_str(),
                a.mode.c_str());
  }
  uint64_t tag = 0;
  uint8_t ackByte = 0;
  for (size_t size : a.sizes) {
    const double total = a.bytesPerSizeMb * (1 << 20);
    int iters;
    if (a.mode == "bw") {
      iters = static_cast<int>(std::min(2000.0, std::max(4.0, total / size)));
    } else {
      iters = static_cast<int>(std::min(1000.0, std::max(3.0, total / 16 / size)));
    }
    if (a.iters > 0) iters = a.iters;
    const int warm = a.warmup;
    const int window =
        static_cast<int>(std::max<size_t>(1, std::min<size_t>(8, (512u << 20) / size)));
    std::vector<std::vector<uint8_t>> bufs(a.mode == "bw" && rank == 1 ? window : 1,
                                           std::vector<uint8_t>(size, 0x5A));
    auto dl = [] { return Deadline::afterSeconds(600); };
    double t0 = 0, t1 = 0;
    if (a.mode == "bw") {
      for (int round = 0; round < 2; ++round) {  // round 0 = warm-up
        int n = round == 0 ? warm : iters;
        if (n == 0) continue;
        if (rank == 0) {
          t0 = now();
          std::deque<std::shared_ptr<Request>> inflight;
          for (int k = 0; k < n; ++k) {
            if (static_cast<int>(inflight.size()) >= window) {
              if (!check(inflight.front()->wait(dl()), "send").ok()) return 1;
              inflight.pop_front();
            }
            inflight.push_back(tr.isend(1, tag + k, bufs[0].data(), size, dl()));
          }
          for (auto& r : inflight) {
            if (!check(r->wait(dl()), "send").ok()) return 1;
          }
          if (!check(tr.irecv(1, kAck + tag, &ackByte, 1, dl())->wait(dl()), "ack").ok()) return 1;
          t1 = now();
        } else {
          std::deque<std::shared_ptr<Request>> inflight;
          for (int k = 0; k < n; ++k) {
            if (static_cast<int>(inflight.size()) >= window) {
              if (!check(inflight.front()->wait(dl()), "recv").ok()) return 1;
              inflight.pop_front();
            }
            inflight.push_back(tr.irecv(0, tag + k, bufs[k % window].data(), size, dl()));
          }
          for (auto& r : inflight) {
            if (!check(r->wait(dl()), "recv").ok()) return 1;
          }
          if (!check(tr.isend(0, kAck + tag, &ackByte, 1, dl())->wait(dl()), "ack").ok()) return 1;
        }
        tag += n;
      }
    } else {
      for (int round = 0; round < 2; ++round) {
        int n = round == 0 ? warm : iters;
        t0 = now();
        for (int k = 0; k < n; ++k) {
          if (rank == 0) {
            auto r = tr.irecv(1, tag + k, bufs[0].data(), size, dl());
            if (!check(tr.isend(1, tag + k, bufs[0].data(), size, dl())->wait(dl()), "ping").ok())
              return 1;
            if (!check(r->wait(dl()), "pong").ok()) return 1;
          } else {
            if (!check(tr.irecv(0, tag + k, bufs[0].data(), size, dl())->wait(dl()), "ping").ok())
              return 1;
            if (!check(tr.isend(0, tag + k, bufs[0].data(), size, dl())->wait(dl()), "pong").ok())
              return 1;
          }
        }
        t1 = now();
        tag += n;
      }
    }
    if (rank == 0) {
      double secs = t1 - t0;
      double usec = a.mode == "bw" ? secs / iters * 1e6 : secs / iters / 2 * 1e6;
      double bytes = a.mode == "bw" ? static_cast<double>(size) * iters
                                    : static_cast<double>(size) * iters * 2;
      std::printf("%zu %.2f %.3f %.2f\n", size, bytes / secs / (1 << 20), bytes * 8 / secs / 1e9,
                  usec);
      std::fflush(stdout);
    }
  }
  (void)storeBarrier(*store, "bench-end", 2, Deadline::afterSeconds(60));
  return 0;
}

}  // namespace
}  // namespace isthmus

int main(int argc, char** argv) {
  using namespace isthmus;
  Args a;
  if (!parse(argc, argv, &a)) {
    std::fprintf(stderr,
                 "usage: isthmus_transport_bench --mode bw|lat [--sizes a,b,...] [--lanes L] "
                 "[--chunk BYTES] [--window-mb MB] [--bytes-per-size MB] [--iters N] "
                 "[--warmup N] [--link-gbps G --link-rtt-ms MS]\n");
    return 2;
  }
  if (std::getenv("RANK") && std::getenv("WORLD_SIZE")) {
    auto store = connectStoreFromEnv(Deadline::afterSeconds(60));
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().toString().c_str());
      return 1;
    }
    return runRank(a, std::atoi(std::getenv("RANK")), *store);
  }
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().toString().c_str());
    return 1;
  }
  uint16_t port = (*server)->port();
  std::fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto c = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(30));
    if (!c.ok()) _exit(1);
    _exit(runRank(a, 1, std::shared_ptr<Store>(std::move(*c))));
  }
  auto c = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(30));
  int rc = c.ok() ? runRank(a, 0, std::shared_ptr<Store>(std::move(*c))) : 1;
  if (rc != 0) kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  return rc != 0 ? rc : (WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
