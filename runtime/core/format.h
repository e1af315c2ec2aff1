// Numbers for people: byte counts in binary units, for logs, describe() and tool output.
#pragma once

#include <string>

namespace isthmus {

// "0 B", "512 B", "1.50 KiB", "256 MiB", "3.25 GiB" (two decimals below 10 of a unit).
std::string humanBytes(double bytes);

}  // namespace isthmus
