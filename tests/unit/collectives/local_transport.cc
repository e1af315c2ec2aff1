#include "tests/unit/collectives/local_transport.h"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <tuple>

namespace isthmus::testing {
namespace {

class Hub;

class LocalRequest : public Request {
 public:
  LocalRequest(std::shared_ptr<Hub> hub, Deadline deadline)
      : hub_(std::move(hub)), deadline_(deadline) {}
  bool test() override;
  Status wait(Deadline deadline) override;
  Status status() override {
    std::lock_guard<std::mutex> l(mu_);
    return done_ ? status_ : okStatus();
  }
  void complete(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    if (done_) return;
    done_ = true;
    status_ = std::move(s);
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
  std::shared_ptr<Hub> hub_;
  Deadline deadline_;
  std::string what;
};

struct Op {
  std::shared_ptr<LocalRequest> req;
  void* data;
  size_t bytes;
};
using Key = std::tuple<int, int, uint64_t>;  // src, dst, tag

class Hub : public std::enable_shared_from_this<Hub> {
 public:
  explicit Hub(int size) : aborted_(size) {}

  std::shared_ptr<Request> post(bool isSend, int self, int peer, uint64_t tag, void* data,
                                size_t bytes, Deadline deadline) {
    auto req = std::make_shared<LocalRequest>(shared_from_this(), deadline);
    req->what =
        strCat(isSend ? "send to " : "receive from ", peer, " tag ", tag, " (", bytes, " bytes)");
    std::lock_guard<std::mutex> l(mu_);
    if (!aborted_[self].ok()) {
      req->complete(aborted_[self]);
      return req;
    }
    if (!aborted_[peer].ok()) {
      req->complete(peerLostError("peer ", peer, " is gone (", aborted_[peer].message(), ")"));
      return req;
    }
    Key key = isSend ? Key{self, peer, tag} : Key{peer, self, tag};
    auto& other = isSend ? recvs_[key] : sends_[key];
    if (!other.empty()) {
      Op o = other.front();
      other.pop_front();
      const Op& s = isSend ? Op{req, data, bytes} : o;
      const Op& r = isSend ? o : Op{req, data, bytes};
      if (s.bytes != r.bytes) {
        Status bad = corruptError("size mismatch on tag ", tag, ": sent ", s.bytes,
                                  " bytes, receive posted for ", r.bytes);
        s.req->complete(bad);
        r.req->complete(bad);
      } else {
        if (s.bytes) std::memcpy(r.data, s.data, s.bytes);
        s.req->complete(okStatus());
        r.req->complete(okStatus());
      }
      return req;
    }
    (isSend ? sends_[key] : recvs_[key]).push_back(Op{req, data, bytes});
    return req;
  }

  // Removes req from the queues (timeout); true if it was still pending.
  bool cancel(LocalRequest* req) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto* m : {&sends_, &recvs_}) {
      for (auto& [k, q] : *m) {
        for (auto it = q.begin(); it != q.end(); ++it) {
          if (it->req.get() == req) {
            q.erase(it);
            return true;
          }
        }
      }
    }
    return false;
  }

  void abort(int self, const Status& reason) {
    std::vector<std::shared_ptr<LocalRequest>> fail;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!aborted_[self].ok()) return;
      aborted_[self] = reason;
      for (auto* m : {&sends_, &recvs_}) {
        for (auto& [k, q] : *m) {
          const int local = m == &sends_ ? std::get<0>(k) : std::get<1>(k);
          if (local != self) continue;
          for (auto& o : q) fail.push_back(o.req);
          q.clear();
        }
      }
    }
    for (auto& r : fail) r->complete(reason);
  }

  Status health(int self) {
    std::lock_guard<std::mutex> l(mu_);
    return aborted_[self];
  }

 private:
  std::mutex mu_;
  std::map<Key, std::deque<Op>> sends_, recvs_;
  std::vector<Status> aborted_;
};

bool LocalRequest::test() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (done_) return true;
  }
  if (deadline_.expired() && hub_->cancel(this)) {
    complete(timeoutError(what, " timed out"));
  }
  std::lock_guard<std::mutex> l(mu_);
  return done_;
}

Status LocalRequest::wait(Deadline deadline) {
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      Deadline d = Deadline::earliest(deadline, deadline_);
      cv_.wait_for(l,
                   std::min<std::chrono::nanoseconds>(d.remaining(), std::chrono::milliseconds(50)),
                   [&] { return done_; });
      if (done_) return status_;
    }
    if (test()) return status();
    if (deadline.expired()) return timeoutError("wait for ", what, " timed out");
  }
}

class LocalEndpoint : public Transport {
 public:
  LocalEndpoint(std::shared_ptr<Hub> hub, int rank, int size)
      : hub_(std::move(hub)), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::shared_ptr<Request> isend(int peer, uint64_t tag, const void* data, size_t bytes,
                                 Deadline deadline) override {
    return hub_->post(true, rank_, peer, tag, const_cast<void*>(data), bytes, deadline);
  }
  std::shared_ptr<Request> irecv(int peer, uint64_t tag, void* data, size_t bytes,
                                 Deadline deadline) override {
    return hub_->post(false, rank_, peer, tag, data, bytes, deadline);
  }
  ~LocalEndpoint() override { hub_->abort(rank_, abortedError("endpoint ", rank_, " destroyed")); }
  void abort(Status reason) override { hub_->abort(rank_, reason); }
  Status health() const override { return hub_->health(rank_); }
  std::string describe() const override { return strCat("local in-process ", rank_, "/", size_); }

 private:
  std::shared_ptr<Hub> hub_;
  int rank_, size_;
};

}  // namespace

std::vector<std::unique_ptr<Transport>> makeLocalGroup(int size) {
  auto hub = std::make_shared<Hub>(size);
  std::vector<std::unique_ptr<Transport>> out;
  for (int r = 0; r < size; ++r) out.push_back(std::make_unique<LocalEndpoint>(hub, r, size));
  return out;
}

}  // namespace isthmus::testing
