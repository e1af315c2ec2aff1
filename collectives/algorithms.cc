#include "collectives/algorithms.h"

namespace isthmus::coll {
namespace {

bool floatType(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16;
}

int scoreHierHost(const AllreduceQuery& q, std::string* why) {
  if (!floatType(q.dtype)) {
    *why = strCat("dtype ", dtypeName(q.dtype), " is not fp32/fp16/bf16");
    return 0;
  }
  if (q.memory == MemoryKind::kCuda) {
    *why = "buffer is in GPU memory";
    return 0;
  }
  return 100;
}

int scoreHierStagedGpu(const AllreduceQuery& q, std::string* why) {
  if (q.memory != MemoryKind::kCuda) {
    *why = "buffer is in host memory";
    return 0;
  }
  if (!floatType(q.dtype)) {
    *why = strCat("dtype ", dtypeName(q.dtype), " is not fp32/fp16/bf16");
    return 0;
  }
  if (!q.cudaBuilt) {
    *why = "this build of Isthmus has no CUDA, or no GPU is visible";
    return 0;
  }
  return 50;
}

int scoreHierGpu(const AllreduceQuery& q, std::string* why) {
  if (q.memory != MemoryKind::kCuda) {
    *why = "buffer is in host memory";
    return 0;
  }
  // The NCCL intra tier with pinned staging of the compressed bytes is not implemented yet.
  *why = "the GPU path (NCCL intra tier, pinned staging of the compressed bytes) is not built yet";
  return 0;
}

}  // namespace

const std::vector<AlgInfo>& allreduceAlgorithms() {
  static const std::vector<AlgInfo> algs = {
      {"hier_pipelined_host",
       "intra ring reduce-scatter (fp32 partials) -> per-slot compressed all-to-all, owner "
       "reduce in fp32, re-encode, all-gather -> intra ring all-gather; chunks pipelined",
       &scoreHierHost},
      {"hier_staged_gpu",
       "GPU buffer copied to pinned host memory on the caller's stream (after the work queued "
       "there), hier_pipelined_host on the copy, copied back on the same stream; the caller's "
       "stream is synchronised twice",
       &scoreHierStagedGpu},
      {"hier_pipelined_gpu",
       "NCCL reduce-scatter -> compressed inter exchange staged through pinned host memory -> "
       "NCCL all-gather",
       &scoreHierGpu},
  };
  return algs;
}

Result<std::string> selectAllreduce(const AllreduceQuery& q) {
  int best = 0;
  std::string name, reasons;
  for (const AlgInfo& a : allreduceAlgorithms()) {
    std::string why;
    int s = a.score(q, &why);
    if (s > best) {
      best = s;
      name = a.name;
    } else if (s <= 0) {
      reasons += strCat(reasons.empty() ? "" : "; ", a.name, ": ", why);
    }
  }
  if (best <= 0) return notSupportedError("no allreduce algorithm can run this call: ", reasons);
  return name;
}

}  // namespace isthmus::coll
