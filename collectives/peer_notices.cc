#include "collectives/peer_notices.h"

#include <chrono>
#include <cstring>

namespace isthmus::coll {

PeerNotices::PeerNotices(Transport* transport, uint64_t tag, std::string who, Callbacks callbacks)
    : transport_(transport), tag_(tag), who_(std::move(who)), callbacks_(std::move(callbacks)) {
  const int n = transport_->size();
  bufs_.assign(n, std::vector<char>(kBytes));
  receives_.resize(n);
  departed_.assign(n, false);
  for (int p = 0; p < n; ++p) {
    if (p == transport_->rank()) continue;
    receives_[p] = transport_->irecv(p, tag_, bufs_[p].data(), kBytes, Deadline::infinite());
  }
  watcher_ = std::thread([this] { watch(); });
}

void PeerNotices::send(Kind kind, const Status& s) {
  std::vector<char> msg(kBytes, 0);
  msg[0] = kind;
  msg[1] = static_cast<char>(s.code());
  std::string text = s.message().substr(0, kBytes - 3);
  std::memcpy(msg.data() + 2, text.data(), text.size());
  Deadline dl = Deadline::afterSeconds(1.0);
  std::vector<std::shared_ptr<Request>> reqs;
  for (int p = 0; p < transport_->size(); ++p) {
    if (p == transport_->rank()) continue;
    // A failure notice is pointless to a peer that left. A goodbye is not: a peer that said
    // goodbye first still waits for ours before it closes its connections.
    if (kind != kGoodbye) {
      std::lock_guard<std::mutex> l(mu_);
      if (departed_[p]) continue;
    }
    reqs.push_back(transport_->isend(p, tag_, msg.data(), kBytes, dl));
  }
  for (auto& r : reqs) (void)r->wait(dl);
}

void PeerNotices::leave(double graceSeconds) {
  send(kGoodbye, okStatus());
  if (transport_->size() <= 1) return;
  Deadline grace = Deadline::afterSeconds(graceSeconds);
  while (!grace.expired()) {
    if (callbacks_.failed && callbacks_.failed()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      bool all = true;
      for (int p = 0; p < transport_->size(); ++p)
        all = all && (p == transport_->rank() || departed_[p]);
      if (all) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Every goodbye is in, but a peer's watcher (20 ms period) may not have seen ours yet.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

void PeerNotices::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (watcher_.joinable()) watcher_.join();
  receives_.clear();
}

void PeerNotices::watch() {
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::milliseconds(20), [&] { return stop_; });
      if (stop_) return;
    }
    for (int p = 0; p < transport_->size(); ++p) {
      auto& r = receives_[p];
      if (!r || !r->test()) continue;
      Status st = r->status();
      r.reset();
      bool departed;
      {
        std::lock_guard<std::mutex> l(mu_);
        departed = departed_[p];
      }
      if (st.ok()) {
        const char* m = bufs_[p].data();
        std::string text(m + 2, strnlen(m + 2, kBytes - 2));
        if (m[0] == kGoodbye) {
          {
            std::lock_guard<std::mutex> l(mu_);
            departed_[p] = true;
          }
          if (callbacks_.onGoodbye) callbacks_.onGoodbye(p);
        } else if (callbacks_.onFailure) {
          callbacks_.onFailure(Status(static_cast<StatusCode>(m[1]),
                                      strCat(text, " (reported to ", who_, " by rank ", p, ")")));
        }
      } else if (!departed && st.code() != StatusCode::kAborted && callbacks_.onFailure) {
        callbacks_.onFailure(st);
      }
    }
  }
}

}  // namespace isthmus::coll
