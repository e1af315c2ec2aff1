// isthmus._C: the nanobind extension. Thin: it converts DLPack tensors to buffer views, Status to
// exceptions (errors.h), and releases the GIL around every call that can block. The Pythonic API
// (defaults, non-contiguous copies, torch helpers) lives in the isthmus package on top of it.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collectives/communicator.h"
#include "python_bindings/src/errors.h"
#include "python_bindings/src/tensor_view.h"
#include "runtime/topology.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace isthmus::py {
namespace {

bool interpreterFinalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

Deadline deadlineFrom(std::optional<double> timeoutSeconds) {
  if (!timeoutSeconds) return Deadline::infinite();
  if (*timeoutSeconds < 0) throw StatusError(invalidArgumentError("timeout must be >= 0 seconds"));
  return Deadline::afterSeconds(*timeoutSeconds);
}

nb::dict trafficDict(const coll::TrafficStats& t) {
  nb::dict d;
  d["inter_bytes_sent"] = t.interBytesSent;
  d["inter_bytes_received"] = t.interBytesReceived;
  d["intra_bytes_sent"] = t.intraBytesSent;
  return d;
}

// A Work plus the Python objects whose memory it reads or writes: they stay alive until the
// collective has completed, even when Python drops the Work early (a trainer that forgets a
// pending exchange, a DDP hook whose state dies with its model): the destructor waits for the
// collective (GIL released; the communicator's deadlines bound it) before the arrays are let go.
// If it still has not completed then, or the interpreter is shutting down, the Work is aborted
// and the arrays are leaked on purpose: never free memory a collective may still write.
struct PyWork {
  std::shared_ptr<coll::Work> work;
  std::vector<nb::ndarray<>> arrays;  // each holds a reference to its DLPack owner
  double dropWaitSeconds = 0;

  PyWork(std::shared_ptr<coll::Work> w, std::vector<nb::ndarray<>> a, double dropWait)
      : work(std::move(w)), arrays(std::move(a)), dropWaitSeconds(dropWait) {}
  PyWork(PyWork&&) = default;
  PyWork& operator=(PyWork&&) = default;
  PyWork(const PyWork&) = delete;
  PyWork& operator=(const PyWork&) = delete;

  ~PyWork() {
    if (!work || arrays.empty() || work->isCompleted()) return;
    if (!interpreterFinalizing()) {
      nb::gil_scoped_release release;
      (void)work->wait(Deadline::afterSeconds(dropWaitSeconds));
    }
    if (!work->isCompleted()) {
      work->abort(abortedError("a Work was dropped from Python while its collective ran"));
      for (auto& a : arrays) new nb::ndarray<>(std::move(a));  // leaked: see above
    }
  }

  void wait(std::optional<double> timeoutSeconds) {
    Deadline deadline = deadlineFrom(timeoutSeconds);
    Status s;
    {
      nb::gil_scoped_release release;
      s = work->wait(deadline);
    }
    throwIfError(s);
  }
  bool isCompleted() {
    nb::gil_scoped_release release;
    return work->isCompleted();
  }
};

struct PyCommunicator {
  std::shared_ptr<coll::Communicator> comm;
  double timeoutSeconds = 300;  // the communicator's default collective timeout

  coll::CollectiveOptions options(const std::string& codec, const std::string& efKey,
                                  std::optional<double> timeoutSeconds,
                                  uintptr_t stream = 0) const {
    coll::CollectiveOptions o;
    o.stream = reinterpret_cast<StreamHandle>(stream);
    o.interCodec = codec;
    o.errorFeedbackKey = efKey;
    if (timeoutSeconds) {
      if (*timeoutSeconds <= 0) throw StatusError(invalidArgumentError("timeout must be > 0"));
      o.timeoutSeconds = *timeoutSeconds;
    }
    return o;
  }

  template <typename F>
  PyWork post(std::vector<nb::ndarray<>> arrays, F&& f) {
    std::shared_ptr<coll::Work> w;
    {
      nb::gil_scoped_release release;
      w = f();
    }
    if (!w) throw StatusError(internalError("communicator returned no Work"));
    return PyWork(std::move(w), std::move(arrays), timeoutSeconds + 10);
  }
};

// The topology as plain Python data: {"centers": [{"name", "ranks": [..]}], "links": [{"src",
// "dst", "bandwidth_gbps", "rtt_ms", "lanes", "loss_percent"}], "text": describe()}.
nb::dict topologyDict(const Topology& t) {
  nb::list centers;
  for (int c = 0; c < t.numCenters(); ++c) {
    nb::dict d;
    d["name"] = t.centerName(c);
    nb::list ranks;
    for (int r = t.firstRank(c); r < t.firstRank(c) + t.centerSize(c); ++r) ranks.append(r);
    d["ranks"] = ranks;
    centers.append(d);
  }
  nb::list links;
  for (int a = 0; a < t.numCenters(); ++a) {
    for (int b = 0; b < t.numCenters(); ++b) {
      auto l = t.link(a, b);
      if (!l) continue;
      nb::dict d;
      d["src"] = a;
      d["dst"] = b;
      d["bandwidth_gbps"] = l->bandwidthGbps;
      d["rtt_ms"] = l->rttMs;
      d["lanes"] = l->lanes;
      d["loss_percent"] = l->lossPercent;
      links.append(d);
    }
  }
  nb::dict out;
  out["centers"] = centers;
  out["links"] = links;
  out["job_id"] = t.jobId();
  out["text"] = t.describe();
  return out;
}

coll::ReduceOp parseOp(const std::string& op) {
  auto r = coll::parseReduceOp(op);
  if (!r.ok()) throw StatusError(r.status());
  return *r;
}

}  // namespace
}  // namespace isthmus::py

NB_MODULE(_C, m) {
  using namespace isthmus;
  using namespace isthmus::py;
  m.doc() = "Isthmus C++ core: hierarchical, compressed collectives across centers.";
  registerErrors(m);
  // Works and the communicator legitimately outlive the interpreter's module teardown (a hook's
  // pending exchange, the process-wide communicator): no leak report at exit.
  nb::set_leak_warnings(false);

  nb::class_<PyWork>(m, "Work", "Handle of an asynchronous collective (torch.distributed's Work).")
      .def("wait", &PyWork::wait, "timeout"_a = nb::none(),
           "Blocks (GIL released) until the collective completes; raises its error. With a "
           "timeout in seconds, raises isthmus.TimeoutError when it passes (the collective keeps "
           "running).")
      .def("is_completed", &PyWork::isCompleted)
      .def(
          "status_message",
          [](PyWork& w) {
            Status s = w.work->status();
            return s.ok() ? std::string() : s.toString();
          },
          "'' while running or after success, else the error text.")
      .def(
          "traffic", [](PyWork& w) { return trafficDict(w.work->traffic()); },
          "Bytes this rank moved for this collective (inter_bytes_sent, ...).")
      .def_prop_ro("seq", [](PyWork& w) { return w.work->sequenceNumber(); })
      .def(
          "abort",
          [](PyWork& w, const std::string& reason) {
            nb::gil_scoped_release release;
            w.work->abort(abortedError(reason));
          },
          "reason"_a = "aborted from Python");

  nb::class_<PyCommunicator>(m, "Communicator", "One rank's communicator (see isthmus.init()).")
      .def_prop_ro("rank", [](PyCommunicator& c) { return c.comm->rank(); })
      .def_prop_ro("world_size", [](PyCommunicator& c) { return c.comm->worldSize(); })
      .def_prop_ro("center", [](PyCommunicator& c) { return c.comm->center(); })
      .def_prop_ro("num_centers", [](PyCommunicator& c) { return c.comm->numCenters(); })
      .def_prop_ro("local_rank", [](PyCommunicator& c) { return c.comm->localRank(); })
      .def_prop_ro("local_world_size", [](PyCommunicator& c) { return c.comm->localWorldSize(); })
      .def(
          "allreduce",
          [](PyCommunicator& c, nb::ndarray<> tensor, const std::string& op,
             const std::string& codec, const std::string& efKey, std::optional<double> timeout,
             uintptr_t stream) {
            BufferView view = toBufferView(tensor, "allreduce tensor");
            coll::ReduceOp rop = parseOp(op);
            auto opts = c.options(codec, efKey, timeout, stream);
            return c.post({tensor}, [&] { return c.comm->allreduce(view, rop, opts); });
          },
          "tensor"_a, "op"_a = "avg", "codec"_a = "", "ef_key"_a = "", "timeout"_a = nb::none(),
          "stream"_a = 0, "In-place allreduce; returns a Work at once.")
      .def(
          "reduce_scatter",
          [](PyCommunicator& c, nb::ndarray<> input, nb::ndarray<> output, const std::string& op,
             const std::string& codec, std::optional<double> timeout, uintptr_t stream) {
            BufferView in = toBufferView(input, "reduce_scatter input");
            BufferView out = toBufferView(output, "reduce_scatter output");
            coll::ReduceOp rop = parseOp(op);
            auto opts = c.options(codec, "", timeout, stream);
            return c.post({input, output},
                          [&] { return c.comm->reduceScatter(in, out, rop, opts); });
          },
          "input"_a, "output"_a, "op"_a = "avg", "codec"_a = "", "timeout"_a = nb::none(),
          "stream"_a = 0)
      .def(
          "all_gather",
          [](PyCommunicator& c, nb::ndarray<> input, nb::ndarray<> output, const std::string& codec,
             std::optional<double> timeout, uintptr_t stream) {
            BufferView in = toBufferView(input, "all_gather input");
            BufferView out = toBufferView(output, "all_gather output");
            auto opts = c.options(codec, "", timeout, stream);
            return c.post({input, output}, [&] { return c.comm->allGather(in, out, opts); });
          },
          "input"_a, "output"_a, "codec"_a = "", "timeout"_a = nb::none(), "stream"_a = 0)
      .def(
          "broadcast",
          [](PyCommunicator& c, nb::ndarray<> tensor, int root, std::optional<double> timeout,
             uintptr_t stream) {
            BufferView view = toBufferView(tensor, "broadcast tensor");
            auto opts = c.options("", "", timeout, stream);
            return c.post({tensor}, [&] { return c.comm->broadcast(view, root, opts); });
          },
          "tensor"_a, "root"_a = 0, "timeout"_a = nb::none(), "stream"_a = 0)
      .def(
          "barrier",
          [](PyCommunicator& c, std::optional<double> timeout) {
            auto opts = c.options("", "", timeout);
            return c.post({}, [&] { return c.comm->barrier(opts); });
          },
          "timeout"_a = nb::none())
      .def(
          "describe",
          [](PyCommunicator& c, size_t count, const std::string& dtype, const std::string& codec) {
            auto dt = parseDType(dtype);
            if (!dt.ok()) throw StatusError(dt.status());
            coll::CollectiveOptions o;
            o.interCodec = codec;
            nb::gil_scoped_release release;
            return c.comm->describe(count, *dt, o);
          },
          "count"_a, "dtype"_a = "fp32", "codec"_a = "",
          "The plan allreduce would run for this size and codec, as text.")
      .def("traffic", [](PyCommunicator& c) { return trafficDict(c.comm->traffic()); })
      .def(
          "topology", [](PyCommunicator& c) { return topologyDict(c.comm->topology()); },
          "Centers (name, ranks), links between them, and a readable description.")
      .def(
          "abort",
          [](PyCommunicator& c, const std::string& reason) {
            nb::gil_scoped_release release;
            c.comm->abort(abortedError(reason));
          },
          "reason"_a = "aborted from Python");

  m.def(
      "buffer_info",
      [](nb::ndarray<> array) {
        BufferView v = toBufferView(array, "tensor");
        nb::dict d;
        d["data"] = reinterpret_cast<uintptr_t>(v.data);
        d["count"] = v.count;
        d["dtype"] = std::string(dtypeName(v.dtype));
        d["memory"] = std::string(memoryKindName(v.memory));
        d["device"] = v.device;
        d["bytes"] = v.bytes();
        return d;
      },
      "array"_a,
      "How the extension sees a tensor (pointer, count, dtype, memory kind): no copy is made, "
      "so `data` equals the tensor's own data pointer.");

  m.def(
      "init_from_env",
      [](double timeout, const std::string& interCodec, const std::string& intraCodec,
         int lanesPerPeer, size_t pipelineChunkBytes) {
        coll::CommunicatorOptions o;
        o.timeoutSeconds = timeout;
        o.interCodec = interCodec;
        o.intraCodec = intraCodec;
        o.lanesPerPeer = lanesPerPeer;
        o.pipelineChunkBytes = pipelineChunkBytes;
        std::optional<Result<std::shared_ptr<coll::Communicator>>> r;
        {
          nb::gil_scoped_release release;  // rendezvous blocks on the store
          r.emplace(coll::Communicator::fromEnv(o));
        }
        if (!r->ok()) throw StatusError(r->status());
        return PyCommunicator{r->value(), timeout};
      },
      "timeout"_a = 300.0, "inter_codec"_a = "int8", "intra_codec"_a = "fp32",
      "lanes_per_peer"_a = 0, "pipeline_chunk_bytes"_a = 0,
      "Creates this process's communicator from the environment (isthmus-run, torchrun, SLURM).");
}
