// CRC32C (Castagnoli, the iSCSI polynomial 0x1EDC6F41, reflected 0x82F63B78) of byte ranges.
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run time), a
// slicing-by-8 table otherwise; both give identical results. crc32c("123456789") == 0xE3069283.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace isthmus {

// CRC32C of data[0, bytes), continuing from `crc` (the value returned for the preceding bytes;
// 0 to start).
uint32_t crc32c(const void* data, size_t bytes, uint32_t crc = 0);
// The portable table implementation, exposed so tests can compare it with the hardware path.
uint32_t crc32cPortable(const void* data, size_t bytes, uint32_t crc = 0);
// True when crc32c() uses the SSE4.2 instruction.
bool crc32cHardware();

}  // namespace isthmus
