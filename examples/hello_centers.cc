// hello_centers: the smallest end-to-end check of a multi-center job. Run it under the launcher:
//
//   isthmus-run --centers 2 --ranks-per-center 2 -- hello_centers
//
// Each rank reads its identity from the environment, connects to the rendezvous store, meets the
// others at a store barrier, prints its identity line, then proves the store really connects
// everyone: it publishes a value derived from its rank and reads back and checks every other
// rank's value. Rank 0 prints "hello_centers: all N ranks agree" once everyone has checked.
//
// --fail-rank R --exit-code E: rank R exits with E right after the barrier (to test the
// launcher's failure handling). --timeout S bounds every store wait (default 60 s).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/core/deadline.h"
#include "runtime/core/status.h"
#include "runtime/identity.h"
#include "runtime/store/store.h"
#include "runtime/store/tcp_store.h"

namespace {

struct Args {
  int failRank = -1;
  int exitCode = 1;
  double timeoutSeconds = 60;
};

bool parseArgs(int argc, char** argv, Args* out) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](const char** v) {
      if (i + 1 >= argc) return false;
      *v = argv[++i];
      return true;
    };
    const char* v = nullptr;
    if (a == "--fail-rank" && next(&v)) {
      out->failRank = std::atoi(v);
    } else if (a == "--exit-code" && next(&v)) {
      out->exitCode = std::atoi(v);
    } else if (a == "--timeout" && next(&v)) {
      out->timeoutSeconds = std::atof(v);
    } else {
      std::fprintf(stderr,
                   "usage: hello_centers [--fail-rank R --exit-code E] [--timeout SECONDS]\n"
                   "unexpected argument '%s'\n",
                   a.c_str());
      return false;
    }
  }
  return true;
}

// The value rank r publishes: different for every rank and checkable by anyone.
std::string valueFor(int rank, const std::string& jobId) {
  return isthmus::strCat("rank-", rank, "-job-", jobId, "-square-", rank * rank);
}

int fail(const isthmus::Identity& id, const isthmus::Status& st) {
  std::fprintf(stderr, "hello_centers %s: %s\n", id.describe().c_str(), st.toString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace isthmus;
  Args args;
  if (!parseArgs(argc, argv, &args)) return 2;
  auto identity = identityFromEnv(nullptr);
  if (!identity.ok()) {
    std::fprintf(stderr, "hello_centers: %s\n", identity.status().toString().c_str());
    return 1;
  }
  const Identity& id = *identity;
  const Deadline deadline = Deadline::afterSeconds(args.timeoutSeconds);
  auto base = connectStoreFromEnv(deadline);
  if (!base.ok()) return fail(id, base.status());
  // Keys of this program live under its own prefix (and the job's, so jobs never mix).
  auto store = makePrefixStore(*base, "hello_centers/" + id.jobId);

  Status st = storeBarrier(*store, "start", id.worldSize, deadline);
  if (!st.ok()) return fail(id, st);
  std::printf(
      "hello from rank %d/%d, center %d/%d '%s', local rank %d/%d, pid %d, store %s:%d, "
      "job %s\n",
      id.rank, id.worldSize, id.center, id.numCenters, id.centerName.c_str(), id.localRank,
      id.localWorldSize, static_cast<int>(getpid()), id.storeHost.c_str(), id.storePort,
      id.jobId.c_str());
  std::fflush(stdout);
  if (id.rank == args.failRank) {
    std::fprintf(stderr, "hello_centers: rank %d exiting with %d as asked (--fail-rank)\n", id.rank,
                 args.exitCode);
    return args.exitCode;
  }

  st = store->set(strCat("value/", id.rank), valueFor(id.rank, id.jobId));
  if (!st.ok()) return fail(id, st);
  for (int r = 0; r < id.worldSize; ++r) {
    auto v = store->get(strCat("value/", r), deadline);
    if (!v.ok()) return fail(id, v.status());
    if (*v != valueFor(r, id.jobId)) {
      return fail(id, corruptError("rank ", r, " published '", *v, "', expected '",
                                   valueFor(r, id.jobId), "'"));
    }
  }
  auto agreed = store->add("agreed", 1);
  if (!agreed.ok()) return fail(id, agreed.status());
  st = storeBarrier(*store, "end", id.worldSize, deadline);
  if (!st.ok()) return fail(id, st);
  if (id.rank == 0) {
    auto total = store->add("agreed", 0);
    if (!total.ok()) return fail(id, total.status());
    if (*total != id.worldSize) {
      return fail(id, internalError(*total, " of ", id.worldSize, " ranks checked every value"));
    }
    std::printf("hello_centers: all %d ranks agree\n", id.worldSize);
  }
  return 0;
}
