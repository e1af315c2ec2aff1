// Small helpers shared by the store implementations (internal: not part of the Store API).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace isthmus {

// "[a, b, c]" (at most 8 keys, then ", ... (N in all)").
std::string joinKeys(const std::vector<std::string>& keys);
// "1.2 s"
std::string formatSeconds(double seconds);
// Parses a whole decimal int64 ("-12"); false on anything else (empty, junk, overflow).
bool parseStoreInt(const std::string& text, int64_t* out);

}  // namespace isthmus
