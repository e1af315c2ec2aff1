#include "runtime/transport/crc32c.h"

#include <array>
#include <cstring>

namespace isthmus {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;  // reflected Castagnoli polynomial

struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};

const Tables& tables() {
  static const Tables kTables;
  return kTables;
}

uint32_t portableRaw(const uint8_t* p, size_t n, uint32_t c) {
  const auto& t = tables().t;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);  // little-endian hosts only (x86-64, aarch64)
    w ^= c;
    c = t[7][w & 0xFF] ^ t[6][(w >> 8) & 0xFF] ^ t[5][(w >> 16) & 0xFF] ^ t[4][(w >> 24) & 0xFF] ^
        t[3][(w >> 32) & 0xFF] ^ t[2][(w >> 40) & 0xFF] ^ t[1][(w >> 48) & 0xFF] ^ t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFF];
  return c;
}

#if defined(__x86_64__)
// Three independent crc32 streams hide the instruction's 3-cycle latency; they are merged with
// the "shift by n zero bytes" operator, computed once per block size as a 32x32 GF(2) matrix.
__attribute__((target("sse4.2"))) uint32_t hwSerial(const uint8_t* p, size_t n, uint32_t c) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}

// Multiplies the GF(2) 32x32 matrix `mat` by vector `vec`.
uint32_t gf2MatrixTimes(const uint32_t* mat, uint32_t vec) {
  uint32_t sum = 0;
  while (vec) {
    if (vec & 1) sum ^= *mat;
    vec >>= 1;
    ++mat;
  }
  return sum;
}

void gf2MatrixSquare(uint32_t* square, const uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = gf2MatrixTimes(mat, mat[n]);
}

// Operator that advances a (raw, non-inverted) CRC state over `len` zero bytes.
struct ZeroShift {
  uint32_t op[32];
  explicit ZeroShift(size_t len) {
    uint32_t odd[32], even[32];
    odd[0] = kPoly;  // one zero bit
    for (int n = 1; n < 32; ++n) odd[n] = 1u << (n - 1);
    gf2MatrixSquare(even, odd);  // two zero bits
    gf2MatrixSquare(odd, even);  // four zero bits
    // identity
    for (int n = 0; n < 32; ++n) op[n] = 1u << n;
    bool useEven = true;
    // Square repeatedly: even = 8 bits (1 byte), odd = 2 bytes, ...; multiply into op for each
    // set bit of len.
    uint32_t tmp[32];
    while (len) {
      if (useEven) {
        gf2MatrixSquare(even, odd);
        if (len & 1) {
          for (int n = 0; n < 32; ++n) tmp[n] = gf2MatrixTimes(even, op[n]);
          std::memcpy(op, tmp, sizeof(op));
        }
      } else {
        gf2MatrixSquare(odd, even);
        if (len & 1) {
          for (int n = 0; n < 32; ++n) tmp[n] = gf2MatrixTimes(odd, op[n]);
          std::memcpy(op, tmp, sizeof(op));
        }
      }
      useEven = !useEven;
      len >>= 1;
    }
  }
  uint32_t apply(uint32_t crc) const { return gf2MatrixTimes(op, crc); }
};

constexpr size_t kBlock = 8192;  // bytes per stream per round

__attribute__((target("sse4.2"))) uint32_t hwRaw(const uint8_t* p, size_t n, uint32_t c) {
  static const ZeroShift kShift1(kBlock);
  static const ZeroShift kShift2(2 * kBlock);
  while (n >= 3 * kBlock) {
    uint64_t a = c, b = 0, d = 0;
    const uint8_t* pa = p;
    const uint8_t* pb = p + kBlock;
    const uint8_t* pd = p + 2 * kBlock;
    for (size_t i = 0; i < kBlock; i += 8) {
      uint64_t wa, wb, wd;
      std::memcpy(&wa, pa + i, 8);
      std::memcpy(&wb, pb + i, 8);
      std::memcpy(&wd, pd + i, 8);
      a = __builtin_ia32_crc32di(a, wa);
      b = __builtin_ia32_crc32di(b, wb);
      d = __builtin_ia32_crc32di(d, wd);
    }
    // crc(A|B|D) = shift(crc(A), 2 blocks) ^ shift(crc(B), 1 block) ^ crc(D), raw states.
    c = kShift2.apply(static_cast<uint32_t>(a)) ^ kShift1.apply(static_cast<uint32_t>(b)) ^
        static_cast<uint32_t>(d);
    p += 3 * kBlock;
    n -= 3 * kBlock;
  }
  return hwSerial(p, n, c);
}

bool detectHardware() { return __builtin_cpu_supports("sse4.2"); }
#else
uint32_t hwRaw(const uint8_t* p, size_t n, uint32_t c) { return portableRaw(p, n, c); }
bool detectHardware() { return false; }
#endif

}  // namespace

bool crc32cHardware() {
  static const bool kHw = detectHardware();
  return kHw;
}

uint32_t crc32cPortable(const void* data, size_t bytes, uint32_t crc) {
  return ~portableRaw(static_cast<const uint8_t*>(data), bytes, ~crc);
}

uint32_t crc32c(const void* data, size_t bytes, uint32_t crc) {
  if (!crc32cHardware()) return crc32cPortable(data, bytes, crc);
  return ~hwRaw(static_cast<const uint8_t*>(data), bytes, ~crc);
}

}  // namespace isthmus
