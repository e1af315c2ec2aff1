// On-the-wire layout of the UCX transport's active messages (internal to runtime/transport/ucx/).
//
// AM ids: kAmHandshake carries a serialized isthmus.proto.HandshakeMessage as its payload (no
// header); kAmData carries a ChunkHeader as the AM header and the chunk's bytes as the payload;
// kAmPing is a ChunkHeader alone (kind kPing) that only proves the sender is alive. Every message
// is sent with UCP_AM_SEND_FLAG_REPLY so the receiver learns the endpoint it came on, and through
// it the authenticated peer and lane: a rank field in a header is never trusted on its own.
#pragma once

#include <cstdint>

namespace isthmus {
namespace ucxwire {

constexpr unsigned kAmHandshake = 0;
constexpr unsigned kAmData = 1;
constexpr unsigned kAmPing = 2;

constexpr uint32_t kProtocolVersion = 1;
constexpr uint32_t kMagic = 0x49535448;  // "ISTH"
constexpr size_t kMaxHandshakeBytes = 64 * 1024;

enum class ChunkKind : uint16_t { kData = 1, kPing = 2 };

struct ChunkHeader {
  uint32_t magic = kMagic;
  uint16_t kind = static_cast<uint16_t>(ChunkKind::kData);
  uint16_t version = kProtocolVersion;
  uint64_t tag = 0;           // the caller's 64-bit tag
  uint64_t sequence = 0;      // the sender's message counter towards this peer (for messages)
  uint64_t messageBytes = 0;  // the whole message
  uint64_t offset = 0;        // of this chunk inside the message
  uint32_t chunkIndex = 0;
  uint32_t chunkCount = 0;
  uint32_t chunkBytes = 0;  // payload bytes of this chunk
  uint32_t crc = 0;         // CRC32C of the payload
};
static_assert(sizeof(ChunkHeader) == 56, "ChunkHeader layout");

}  // namespace ucxwire
}  // namespace isthmus
