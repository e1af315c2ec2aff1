// The TCP store's wire format (internal to runtime/store). See tcp_store.h for the overview.
//
// Frame: FrameHeader (12 bytes, little-endian) then `length` payload bytes. Requests carry an
// op from StoreOp; replies carry a ReplyCode in `op`. Payload fields are u8, u32, i64 (LE) and
// strings (u32 length + bytes). Reader never reads past its buffer: a short or malformed payload
// makes it return false, and the receiver treats the frame as corrupt.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace isthmus::store_wire {

constexpr uint32_t kMagic = 0x53545349;  // "ISTS" in memory order
constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderBytes = 12;

enum StoreOp : uint8_t {
  kOpSet = 1,         // key, value                  -> ok
  kOpGet = 2,         // timeoutMs i64, key          -> ok value | timeout [missing]
  kOpWait = 3,        // timeoutMs i64, n u32, keys  -> ok | timeout [missing]
  kOpAdd = 4,         // key, delta i64              -> ok i64 | error message
  kOpCompareSet = 5,  // key, expected, desired      -> ok value
  kOpCheck = 6,       // key                         -> ok u8
  kOpDelete = 7,      // key                         -> ok u8
  kOpPing = 8,        //                             -> ok
};

enum ReplyCode : uint8_t {
  kReplyOk = 100,
  kReplyTimeout = 101,  // u32 n, n missing keys
  kReplyError = 102,    // message: the request was well-formed but cannot be done
};

const char* opName(uint8_t op);

struct FrameHeader {
  uint32_t magic = kMagic;
  uint16_t version = kVersion;
  uint8_t op = 0;
  uint8_t flags = 0;
  uint32_t length = 0;
};

void encodeHeader(const FrameHeader& h, char out[kHeaderBytes]);
FrameHeader decodeHeader(const char in[kHeaderBytes]);
// A whole frame: header + payload.
std::string makeFrame(uint8_t op, const std::string& payload);

class Writer {
 public:
  Writer& u8(uint8_t v);
  Writer& u32(uint32_t v);
  Writer& i64(int64_t v);
  Writer& str(const std::string& s);
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  Reader(const char* data, size_t size) : p_(data), left_(size) {}
  bool u8(uint8_t* v);
  bool u32(uint32_t* v);
  bool i64(int64_t* v);
  bool str(std::string* s);
  bool done() const { return left_ == 0; }

 private:
  bool take(void* dst, size_t n);
  const char* p_;
  size_t left_;
};

}  // namespace isthmus::store_wire
