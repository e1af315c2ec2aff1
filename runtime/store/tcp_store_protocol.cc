#include "runtime/store/tcp_store_protocol.h"

#include <cstring>

namespace isthmus::store_wire {
namespace {

// The project only targets little-endian hosts (x86-64, aarch64); the format is little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "store wire format assumes LE host");

}  // namespace

const char* opName(uint8_t op) {
  switch (op) {
    case kOpSet: return "set";
    case kOpGet: return "get";
    case kOpWait: return "wait";
    case kOpAdd: return "add";
    case kOpCompareSet: return "compareSet";
    case kOpCheck: return "check";
    case kOpDelete: return "deleteKey";
    case kOpPing: return "ping";
    default: return "unknown-op";
  }
}

void encodeHeader(const FrameHeader& h, char out[kHeaderBytes]) {
  std::memcpy(out, &h.magic, 4);
  std::memcpy(out + 4, &h.version, 2);
  out[6] = static_cast<char>(h.op);
  out[7] = static_cast<char>(h.flags);
  std::memcpy(out + 8, &h.length, 4);
}

FrameHeader decodeHeader(const char in[kHeaderBytes]) {
  FrameHeader h;
  std::memcpy(&h.magic, in, 4);
  std::memcpy(&h.version, in + 4, 2);
  h.op = static_cast<uint8_t>(in[6]);
  h.flags = static_cast<uint8_t>(in[7]);
  std::memcpy(&h.length, in + 8, 4);
  return h;
}

std::string makeFrame(uint8_t op, const std::string& payload) {
  FrameHeader h;
  h.op = op;
  h.length = static_cast<uint32_t>(payload.size());
  std::string frame(kHeaderBytes, '\0');
  encodeHeader(h, frame.data());
  frame += payload;
  return frame;
}

Writer& Writer::u8(uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}
Writer& Writer::u32(uint32_t v) {
  out_.append(reinterpret_cast<const char*>(&v), 4);
  return *this;
}
Writer& Writer::i64(int64_t v) {
  out_.append(reinterpret_cast<const char*>(&v), 8);
  return *this;
}
Writer& Writer::str(const std::string& s) {
  u32(static_cast<uint32_t>(s.size()));
  out_ += s;
  return *this;
}

bool Reader::take(void* dst, size_t n) {
  if (left_ < n) return false;
  std::memcpy(dst, p_, n);
  p_ += n;
  left_ -= n;
  return true;
}
bool Reader::u8(uint8_t* v) { return take(v, 1); }
bool Reader::u32(uint32_t* v) { return take(v, 4); }
bool Reader::i64(int64_t* v) { return take(v, 8); }
bool Reader::str(std::string* s) {
  uint32_t n = 0;
  if (!u32(&n) || left_ < n) return false;
  s->assign(p_, n);
  p_ += n;
  left_ -= n;
  return true;
}

}  // namespace isthmus::store_wire
