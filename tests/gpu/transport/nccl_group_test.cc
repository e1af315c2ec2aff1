// The NCCL group, two processes (fork + TCP store). With two or more GPUs the processes form one
// 2-rank communicator; with one GPU each process has its own one-rank communicator on the same
// GPU (NCCL refuses two ranks of one communicator on one device), which still runs the whole GPU
// path: unique id through the store, non-blocking init, collectives on the caller's stream,
// completion events, the watchdog. Without a GPU the test is skipped. The parent process never
// touches CUDA (a CUDA context does not survive fork).
#include "runtime/transport/nccl/nccl_group.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "runtime/store/tcp_store.h"
#include "tests/harness/child_process.h"

namespace isthmus {
namespace {

constexpr int kSkip = 77;

int fail(Store& store, int rank, const std::string& why) {
  (void)store.set(strCat("result/", rank), "FAIL " + why);
  std::fprintf(stderr, "rank %d: %s\n", rank, why.c_str());
  return 1;
}

// One process's part; returns 0 on success, kSkip without a GPU.
int rankBody(int rank, uint16_t port) {
  int devices = ncclVisibleDevices();
  if (devices == 0) return kSkip;
  auto client = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(30));
  if (!client.ok()) return 2;
  std::shared_ptr<Store> store(std::move(*client));
  const bool shared = devices < 2;
  NcclGroup::Options o;
  o.rank = shared ? 0 : rank;
  o.size = shared ? 1 : 2;
  o.device = shared ? 0 : rank;
  o.store = store;
  o.key = shared ? strCat("nccl/uid/", rank) : "nccl/uid";
  auto g = NcclGroup::create(o, Deadline::afterSeconds(60));
  if (!g.ok()) return fail(*store, rank, g.status().toString());
  NcclGroup& group = **g;
  const int n = group.size();
  const int me = group.rank();

  cudaStream_t stream;
  cudaStreamCreate(&stream);
  const size_t count = (1u << 20) + 3;  // not a multiple of anything
  std::vector<float> host(count * n);
  float *in = nullptr, *out = nullptr;
  cudaMalloc(&in, host.size() * sizeof(float));
  cudaMalloc(&out, host.size() * sizeof(float));
  auto view = [](float* p, size_t c) { return BufferView{p, c, DType::kFloat32}; };
  auto value = [](int r, size_t i) { return static_cast<float>((r + 1) * 0.5 + (i % 13)); };
  auto dl = [] { return Deadline::afterSeconds(30); };
  std::string report = group.describe();

  // allReduce sum and avg.
  for (NcclReduceOp op : {NcclReduceOp::kSum, NcclReduceOp::kAvg}) {
    for (size_t i = 0; i < count; ++i) host[i] = value(me, i);
    cudaMemcpy(in, host.data(), count * sizeof(float), cudaMemcpyHostToDevice);
    auto req = group.allReduce(view(in, count), view(out, count), op, stream, dl());
    if (!req.ok()) return fail(*store, rank, req.status().toString());
    Status st = (*req)->wait(dl());
    if (!st.ok()) return fail(*store, rank, st.toString());
    cudaMemcpy(host.data(), out, count * sizeof(float), cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int r = 0; r < n; ++r) want += value(r, i);
      if (op == NcclReduceOp::kAvg) want /= n;
      if (std::fabs(host[i] - want) > 1e-4f) {
        return fail(*store, rank, strCat("allReduce element ", i, " = ", host[i], " want ", want));
      }
    }
  }
  report += " allReduce(sum,avg) ok";

  // reduceScatter: in has n * count elements, out count.
  for (size_t i = 0; i < count * n; ++i) host[i] = value(me, i);
  cudaMemcpy(in, host.data(), count * n * sizeof(float), cudaMemcpyHostToDevice);
  auto rs =
      group.reduceScatter(view(in, count * n), view(out, count), NcclReduceOp::kSum, stream, dl());
  if (!rs.ok() || !(*rs)->wait(dl()).ok()) return fail(*store, rank, "reduceScatter failed");
  cudaMemcpy(host.data(), out, count * sizeof(float), cudaMemcpyDeviceToHost);
  for (size_t i = 0; i < count; ++i) {
    float want = 0;
    for (int r = 0; r < n; ++r) want += value(r, me * count + i);
    if (std::fabs(host[i] - want) > 1e-4f) return fail(*store, rank, "reduceScatter wrong");
  }
  report += " reduceScatter ok";

  // allGather.
  for (size_t i = 0; i < count; ++i) host[i] = value(me, i) + 1000;
  cudaMemcpy(in, host.data(), count * sizeof(float), cudaMemcpyHostToDevice);
  auto ag = group.allGather(view(in, count), view(out, count * n), stream, dl());
  if (!ag.ok() || !(*ag)->wait(dl()).ok()) return fail(*store, rank, "allGather failed");
  cudaMemcpy(host.data(), out, count * n * sizeof(float), cudaMemcpyDeviceToHost);
  for (int r = 0; r < n; ++r) {
    for (size_t i = 0; i < count; ++i) {
      if (host[r * count + i] != value(r, i) + 1000) return fail(*store, rank, "allGather wrong");
    }
  }
  report += " allGather ok";

  // broadcast from rank 0.
  for (size_t i = 0; i < count; ++i) host[i] = me == 0 ? value(7, i) : -1.0f;
  cudaMemcpy(out, host.data(), count * sizeof(float), cudaMemcpyHostToDevice);
  auto bc = group.broadcast(view(out, count), 0, stream, dl());
  if (!bc.ok() || !(*bc)->wait(dl()).ok()) return fail(*store, rank, "broadcast failed");
  cudaMemcpy(host.data(), out, count * sizeof(float), cudaMemcpyDeviceToHost);
  for (size_t i = 0; i < count; ++i) {
    if (host[i] != value(7, i)) return fail(*store, rank, "broadcast wrong");
  }
  report += " broadcast ok";

  // Deadline: with a real 2-rank communicator, rank 1 skips a collective; rank 0's must end with
  // kTimeout and an aborted communicator instead of hanging.
  if (n == 2) {
    if (me == 0) {
      auto req = group.allReduce(view(in, count), view(out, count), NcclReduceOp::kSum, stream,
                                 Deadline::afterSeconds(2));
      Status st = req.ok() ? (*req)->wait(Deadline::afterSeconds(20)) : req.status();
      if (st.code() != StatusCode::kTimeout) {
        return fail(*store, rank,
                    "expected kTimeout for the unmatched collective, got " + st.toString());
      }
      report += " deadline->" + st.toString();
      if (group.health().ok()) return fail(*store, rank, "group still healthy after abort");
    }
    (void)store->set(strCat("deadline-done/", me), "1");
    (void)store->get("deadline-done/0", Deadline::afterSeconds(30));
    if (me == 1) group.abort(abortedError("test over"));
  }
  (void)store->set(strCat("result/", rank), "OK " + report);
  return 0;
}

TEST(NcclGroup, TwoProcessesRunEveryCollectiveOnTheGpu) {
  auto server = TcpStoreServer::start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.status().toString();
  uint16_t port = (*server)->port();
  auto a = testing::ChildProcess::fork([port] { return rankBody(0, port); });
  auto b = testing::ChildProcess::fork([port] { return rankBody(1, port); });
  auto ea = a.waitFor(150);
  auto eb = b.waitFor(30);
  if (ea.exitCode == kSkip && eb.exitCode == kSkip) GTEST_SKIP() << "no CUDA device visible";
  auto client = TcpStoreClient::connect("127.0.0.1", port, Deadline::afterSeconds(5));
  ASSERT_TRUE(client.ok());
  for (int r = 0; r < 2; ++r) {
    auto res = (*client)->get(strCat("result/", r), Deadline::afterSeconds(1));
    std::printf("process %d: %s\n", r, res.ok() ? res->c_str() : "(no result)");
  }
  EXPECT_EQ(ea.exitCode, 0) << ea.describe();
  EXPECT_EQ(eb.exitCode, 0) << eb.describe();
}

TEST(NcclGroup, CompilesAndReportsNoDeviceWithoutOne) {
  // Runs in a child so the gtest process never creates a CUDA context.
  auto c = testing::ChildProcess::fork([] {
    if (ncclVisibleDevices() > 0) return 0;
    auto store = std::shared_ptr<Store>();
    NcclGroup::Options o;
    o.store = store;
    auto g = NcclGroup::create(o, Deadline::afterSeconds(1));
    return g.ok() ? 1 : 0;
  });
  EXPECT_EQ(c.waitFor(60).exitCode, 0);
}

}  // namespace
}  // namespace isthmus
