// Relay threads: see relay.h.
#include "tools/wanem/relay.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "runtime/core/logging.h"
#include "tools/wanem/link_schedule.h"
#include "tools/wanem/packet.h"
#include "tools/wanem/packet_ring.h"

namespace isthmus::wanem {
namespace {

constexpr size_t kMaxPacket = 65536 + 64;
// A writer that is awake writes packets due within this window now rather than sleeping again
// for them: it saves a wake-up per packet when packets are due close together.
constexpr int64_t kEarlyNs = 50000;

struct Counters {
  std::atomic<uint64_t> packetsIn{0}, bytesIn{0}, packetsOut{0}, bytesOut{0};
  std::atomic<uint64_t> droppedLoss{0}, droppedQueue{0}, droppedOverrun{0};
  std::atomic<uint64_t> latePackets{0}, writeErrors{0}, framesIn{0}, framesOut{0};
  std::atomic<uint64_t> writeBusyNs{0};
  std::atomic<uint64_t> lateHistogram[DirectionStats::kLateBuckets] = {};
  std::atomic<int64_t> maxLateNs{0};
};

void add(std::atomic<uint64_t>& c, uint64_t v) { c.fetch_add(v, std::memory_order_relaxed); }

struct Direction {
  Direction(int s, int d, const LinkParams& p, uint64_t seed)
      : src(s),
        dst(d),
        schedule(p.rateBitsPerSec, p.rttMs / 2, p.jitterMs, p.effectiveQueueMs(), p.lossRate, seed),
        lossRate(p.lossRate),
        ring(static_cast<size_t>(2 * schedule.bytesInFlightBound()) + (8u << 20)) {}
  int src;
  int dst;
  LinkSchedule schedule;  // reader thread of src only
  double lossRate;
  PacketRing ring;
  alignas(64) Counters counters;
};

// Relay threads run SCHED_FIFO (low real-time priority) with a tiny timer slack, so wake-ups land
// on time on a busy machine: they sleep almost all the time, and the kernel's real-time
// throttling (95% by default) bounds them if they ever spin. Without CAP_SYS_NICE they fall back
// to nice -10, then to the default.
void tuneThread() {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  struct sched_param sp {};
  sp.sched_priority = 10;
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0) {
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), -10);
  }
}

}  // namespace

class Relay::State {
 public:
  explicit State(RelayOptions o) : opts(std::move(o)) {}
  RelayOptions opts;
  // dirs[s * n + d]; null on the diagonal.
  std::vector<std::unique_ptr<Direction>> dirs;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> unroutable{0};
  int stopFd = -1;
  std::vector<std::thread> threads;
  std::mutex monitorMu;
  std::condition_variable monitorCv;
  std::vector<uint64_t> lastTunDrops;
  mutable std::mutex tunMu;
  bool stopped = false;

  Direction* dir(int s, int d) { return dirs[static_cast<size_t>(s * opts.numCenters + d)].get(); }

  void readerLoop(int c);
  void writerLoop(Direction* d);
  void monitorLoop();
  WanStats collect();
  // Admits one packet (or piece) of `len` bytes at `data` into d; `inRing` says data already
  // lies in d's current reservation.
  void enqueue(Direction* d, const uint8_t* data, size_t len, uint64_t wireBytes, uint32_t segments,
               int64_t now, bool inRing);
  void enqueueWithLoss(Direction* d, const uint8_t* data, size_t len, const PacketInfo& info,
                       int64_t now, uint8_t* scratch);
};

void Relay::State::enqueue(Direction* d, const uint8_t* data, size_t len, uint64_t wireBytes,
                           uint32_t segments, int64_t now, bool inRing) {
  LinkSchedule::Decision dec = d->schedule.admit(now, wireBytes);
  if (dec.dropQueue) {
    add(d->counters.droppedQueue, segments);
    return;
  }
  if (!inRing) {
    uint8_t* slot = d->ring.reserve(len);
    if (slot == nullptr) {
      add(d->counters.droppedOverrun, segments);
      return;
    }
    std::memcpy(slot, data, len);
  }
  d->ring.commit(len, dec.dueNs);
}

void Relay::State::enqueueWithLoss(Direction* d, const uint8_t* data, size_t len,
                                   const PacketInfo& info, int64_t now, uint8_t* scratch) {
  if (!info.splittable) {
    if (d->schedule.lose()) {
      add(d->counters.droppedLoss, info.segments);
      return;
    }
    enqueue(d, data, len, info.wireBytes, info.segments, now, false);
    return;
  }
  // Draw per segment; send every run of surviving consecutive segments as its own packet.
  uint32_t runStart = 0;
  for (uint32_t i = 0; i <= info.segments; ++i) {
    bool lost = i < info.segments && d->schedule.lose();
    if (i < info.segments && !lost) continue;
    if (lost) add(d->counters.droppedLoss, 1);
    if (i > runStart) {
      uint64_t wire = 0;
      size_t pieceLen = buildPiece(data, len, info, runStart, i - runStart, scratch, &wire);
      enqueue(d, scratch, pieceLen, wire, i - runStart, now, false);
    }
    runStart = i + 1;
  }
}

void Relay::State::readerLoop(int c) {
  tuneThread();
  const int n = opts.numCenters;
  const int fd = opts.tunFds[static_cast<size_t>(c)];
  std::vector<uint8_t> scratchA(kMaxPacket), scratchB(kMaxPacket);
  int predicted = c == 0 ? 1 : 0;
  while (!stopping.load(std::memory_order_relaxed)) {
    // Read straight into the ring of the destination the previous packet went to (with two
    // centers, always the right one); otherwise into scratch.
    Direction* guess = dir(c, predicted);
    uint8_t* slot = guess->ring.reserve(kMaxPacket);
    uint8_t* buf = slot != nullptr ? slot : scratchA.data();
    ssize_t got = read(fd, buf, kMaxPacket);
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        struct pollfd fds[2] = {{fd, POLLIN, 0}, {stopFd, POLLIN, 0}};
        poll(fds, 2, -1);
        continue;
      }
      ISTHMUS_LOG(kError) << "wanem: read from wan0 of center " << c << ": " << std::strerror(errno)
                          << "; relay for this center stops";
      return;
    }
    int64_t now = monotonicNs();
    size_t len = static_cast<size_t>(got);
    PacketInfo info;
    int dst = -1;
    if (inspectPacket(buf, len, &info)) {
      int64_t idx = static_cast<int64_t>(info.dstAddr) - static_cast<int64_t>(opts.baseAddr) - 1;
      if (idx >= 0 && idx < n && idx != c) dst = static_cast<int>(idx);
    }
    if (dst < 0) {
      add(unroutable, 1);
      continue;
    }
    Direction* d = dir(c, dst);
    add(d->counters.framesIn, 1);
    add(d->counters.packetsIn, info.segments);
    add(d->counters.bytesIn, info.wireBytes);
    if (d->lossRate > 0) {
      const uint8_t* src = buf;
      if (slot != nullptr) {  // the ring slot will be reused by the pieces: copy out first
        std::memcpy(scratchA.data(), buf, len);
        src = scratchA.data();
      }
      enqueueWithLoss(d, src, len, info, now, scratchB.data());
    } else {
      enqueue(d, buf, len, info.wireBytes, info.segments, now, slot != nullptr && d == guess);
    }
    predicted = dst;
  }
}

void Relay::State::writerLoop(Direction* d) {
  tuneThread();
  const int fd = opts.tunFds[static_cast<size_t>(d->dst)];
  const int64_t toleranceNs = static_cast<int64_t>(opts.spec.lateToleranceMs * 1e6);
  Counters& k = d->counters;
  for (;;) {
    uint32_t token = d->ring.waitToken();
    if (stopping.load(std::memory_order_relaxed)) return;
    PacketRing::Packet p;
    if (!d->ring.front(&p)) {
      d->ring.waitForData(token, -1);
      continue;
    }
    int64_t now = monotonicNs();
    if (p.dueNs > now + kEarlyNs) {
      d->ring.sleepUntil(token, p.dueNs);
      continue;
    }
    int64_t late = std::max<int64_t>(0, now - p.dueNs);
    PacketInfo info;
    inspectPacket(p.data, p.len, &info);
    static constexpr int64_t kBucketEndsNs[DirectionStats::kLateBuckets - 1] = {
        100000, 250000, 500000, 1000000, 2000000, 5000000, 10000000};
    int bucket = 0;
    while (bucket < DirectionStats::kLateBuckets - 1 && late >= kBucketEndsNs[bucket]) ++bucket;
    add(k.lateHistogram[bucket], 1);
    if (late > toleranceNs) {
      add(k.latePackets, info.segments);
      if (late > k.maxLateNs.load(std::memory_order_relaxed)) {
        k.maxLateNs.store(late, std::memory_order_relaxed);
      }
    }
    ssize_t wrote = write(fd, p.data, p.len);
    add(k.writeBusyNs, static_cast<uint64_t>(monotonicNs() - now));
    if (wrote == static_cast<ssize_t>(p.len)) {
      add(k.framesOut, 1);
      add(k.packetsOut, info.segments);
      add(k.bytesOut, info.wireBytes);
    } else {
      add(k.writeErrors, 1);
    }
    d->ring.pop();
  }
}

WanStats Relay::State::collect() {
  WanStats s;
  for (auto& dp : dirs) {
    if (!dp) continue;
    const Counters& k = dp->counters;
    DirectionStats d;
    d.src = dp->src;
    d.dst = dp->dst;
    d.packetsIn = k.packetsIn.load();
    d.bytesIn = k.bytesIn.load();
    d.packetsOut = k.packetsOut.load();
    d.bytesOut = k.bytesOut.load();
    d.droppedLoss = k.droppedLoss.load();
    d.droppedQueue = k.droppedQueue.load();
    d.droppedOverrun = k.droppedOverrun.load();
    d.latePackets = k.latePackets.load();
    d.maxLateMs = static_cast<double>(k.maxLateNs.load()) / 1e6;
    d.writeErrors = k.writeErrors.load();
    for (int b = 0; b < DirectionStats::kLateBuckets; ++b)
      d.lateHistogram[b] = k.lateHistogram[b].load();
    d.framesIn = k.framesIn.load();
    d.framesOut = k.framesOut.load();
    d.writeBusySec = static_cast<double>(k.writeBusyNs.load()) / 1e9;
    s.directions.push_back(d);
  }
  s.unroutable = unroutable.load();
  {
    std::lock_guard<std::mutex> lock(tunMu);
    if (opts.tunDrops && !stopped) lastTunDrops = opts.tunDrops();
    s.tunTxDropped = lastTunDrops;
  }
  return s;
}

void Relay::State::monitorLoop() {
  WanStats prev = collect();
  std::unique_lock<std::mutex> lock(monitorMu);
  auto interval = std::chrono::duration<double>(opts.reportIntervalSec);
  for (;;) {
    monitorCv.wait_for(lock, interval, [&] { return stopping.load(); });
    if (stopping.load()) return;
    WanStats cur = collect();
    std::string report;
    for (size_t i = 0; i < cur.directions.size() && i < prev.directions.size(); ++i) {
      const DirectionStats& a = prev.directions[i];
      const DirectionStats& b = cur.directions[i];
      uint64_t late = b.latePackets - a.latePackets;
      uint64_t overrun = b.droppedOverrun - a.droppedOverrun;
      uint64_t sent = b.packetsOut - a.packetsOut;
      if (late == 0 && overrun == 0) continue;
      report +=
          strCat(" link ", b.src, "->", b.dst, ": ", late, " of ", sent,
                 " packets late by more than ", opts.spec.lateToleranceMs, " ms (worst so far ",
                 b.maxLateMs, " ms), ", overrun, " dropped because the relay buffer was full;");
    }
    for (size_t c = 0; c < cur.tunTxDropped.size() && c < prev.tunTxDropped.size(); ++c) {
      uint64_t dropped = cur.tunTxDropped[c] - prev.tunTxDropped[c];
      if (dropped > 0) {
        report += strCat(" wan0 of center ", c, " dropped ", dropped,
                         " packets before the relay read them;");
      }
    }
    if (!report.empty()) {
      ISTHMUS_LOG(kWarn) << "wanem: the relay could not keep up in the last "
                         << opts.reportIntervalSec
                         << " s (the emulated link is distorted):" << report;
    }
    prev = std::move(cur);
  }
}

Relay::Relay(std::unique_ptr<State> state) : state_(std::move(state)) {}

Relay::~Relay() { stop(); }

void Relay::stop() {
  State* s = state_.get();
  if (s == nullptr || s->stopped) return;
  {
    std::lock_guard<std::mutex> lock(s->monitorMu);
    s->stopping.store(true);
  }
  s->monitorCv.notify_all();
  uint64_t one = 1;
  if (write(s->stopFd, &one, sizeof(one)) < 0) {
    ISTHMUS_LOG(kError) << "wanem: cannot signal relay threads to stop: " << std::strerror(errno);
  }
  for (auto& d : s->dirs) {
    if (d) d->ring.wakeAll();
  }
  for (auto& t : s->threads) t.join();
  s->threads.clear();
  // Read the TUN counters one last time while the devices still exist.
  s->collect();
  {
    std::lock_guard<std::mutex> lock(s->tunMu);
    s->stopped = true;
  }
  close(s->stopFd);
  s->stopFd = -1;
}

WanStats Relay::stats() const { return state_->collect(); }

Result<std::unique_ptr<Relay>> Relay::start(RelayOptions options) {
  auto st = std::make_unique<State>(std::move(options));
  const int n = st->opts.numCenters;
  if (static_cast<int>(st->opts.tunFds.size()) != n || n < 1) {
    return invalidArgumentError("wanem: relay needs one TUN descriptor per center (", n,
                                " centers, ", st->opts.tunFds.size(), " descriptors)");
  }
  st->dirs.resize(static_cast<size_t>(n * n));
  for (int s = 0; s < n; ++s) {
    for (int d = 0; d < n; ++d) {
      if (s == d) continue;
      uint64_t seed = st->opts.seed * 1000003 + static_cast<uint64_t>(s * n + d);
      auto dir = std::make_unique<Direction>(s, d, st->opts.spec.link(s, d), seed);
      if (!dir->ring.ok()) {
        return internalError("wanem: cannot map a relay buffer for link ", s, "->", d);
      }
      st->dirs[static_cast<size_t>(s * n + d)] = std::move(dir);
    }
  }
  st->stopFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (st->stopFd < 0) return internalError("wanem: eventfd: ", std::strerror(errno));
  State* s = st.get();
  std::unique_ptr<Relay> relay(new Relay(std::move(st)));
  if (n > 1) {
    for (int c = 0; c < n; ++c) s->threads.emplace_back([s, c] { s->readerLoop(c); });
    for (auto& d : s->dirs) {
      if (d) s->threads.emplace_back([s, dp = d.get()] { s->writerLoop(dp); });
    }
  }
  s->threads.emplace_back([s] { s->monitorLoop(); });
  return relay;
}

}  // namespace isthmus::wanem
