// Where the runtime unit tests find their data: ISTHMUS_SOURCE_DIR (set by ctest), else the
// source directory this binary was configured from.
#pragma once

#include <cstdlib>
#include <string>

namespace isthmus::testing {

inline std::string sourceDir() {
  const char* dir = std::getenv("ISTHMUS_SOURCE_DIR");
  return dir && *dir ? dir : ISTHMUS_TEST_SOURCE_DIR;
}

inline std::string topologyData(const std::string& name) {
  return sourceDir() + "/tests/data/topology/" + name;
}

inline std::string exampleTopology(const std::string& name) {
  return sourceDir() + "/examples/topologies/" + name;
}

}  // namespace isthmus::testing
