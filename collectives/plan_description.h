// The allreduce plan in words, for Communicator::describe(): algorithm, pipeline, the three
// stages with what this rank owns and sends, error feedback, pacing and both transports.
#pragma once

#include <cstddef>
#include <string>

#include "runtime/core/dtype.h"
#include "runtime/topology.h"
#include "runtime/transport/transport.h"

namespace isthmus::coll {

struct PlanInputs {
  const Topology* topology = nullptr;
  int center = 0, local = 0;  // this rank's center and local rank
  bool intraCma = false;      // the intra tier is cross-memory attach (else a ring)
  size_t count = 0;
  DType dtype = DType::kFloat32;
  size_t chunkElems = 0, windowChunks = 0;
  std::string who;  // "[rank r/N center c]"
  std::string interCodec, errorFeedbackKey;
  double pacingFraction = 0;
  const Transport* intra = nullptr;  // may be null
  const Transport* world = nullptr;  // may be null
};

std::string describeAllreducePlan(const PlanInputs& in);

}  // namespace isthmus::coll
