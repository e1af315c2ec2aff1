// Algorithm selection for allreduce, in the manner of UCC's alg_info + score and Horovod's
// priority list: every algorithm says whether it can run a call (and why not) and how well; the
// communicator picks the highest score. A call no algorithm takes is kNotSupported with every
// algorithm's reason, never a silent fallback.
#pragma once

#include <string>
#include <vector>

#include "runtime/core/buffer.h"
#include "runtime/core/status.h"

namespace isthmus::coll {

struct AllreduceQuery {
  size_t count = 0;
  DType dtype = DType::kFloat32;
  MemoryKind memory = MemoryKind::kHost;
  int numCenters = 1;
  int worldSize = 1;
  bool cudaBuilt = false;  // this build has CUDA and a GPU is visible (kernels::cuda::available)
};

struct AlgInfo {
  const char* name;
  const char* description;
  // > 0: can run it (higher is better); otherwise *why gets the reason.
  int (*score)(const AllreduceQuery& q, std::string* why);
};

const std::vector<AlgInfo>& allreduceAlgorithms();
// The chosen algorithm's name, or kNotSupported listing each algorithm's reason.
Result<std::string> selectAllreduce(const AllreduceQuery& q);

}  // namespace isthmus::coll
