// Packets as the relay sees them on a TUN device opened with IFF_VNET_HDR: a 10-byte
// virtio_net_hdr, then an IP packet that may be a TCP GSO super-packet (up to 64 KiB of payload
// cut into gso_size segments on the wire). Pure functions, no I/O.
//
// The relay charges the link for every segment with its own IP and TCP headers (wireBytes), and
// draws loss per segment. When some segments of a super-packet are lost, buildPiece() rebuilds
// each surviving run of consecutive segments as a packet of its own (sequence number, IP total
// length, IP id, IP header checksum, TCP flags and pseudo-header checksum adjusted), so that 1%
// loss means 1% of the wire packets, as on a real link.
#pragma once

#include <cstddef>
#include <cstdint>

namespace isthmus::wanem {

inline constexpr size_t kVnetHdrLen = 10;
inline constexpr uint8_t kVnetFlagNeedsCsum = 1;
inline constexpr uint8_t kVnetGsoNone = 0;
inline constexpr uint8_t kVnetGsoTcpV4 = 1;
inline constexpr uint8_t kVnetGsoEcn = 0x80;

struct PacketInfo {
  bool ipv4 = false;
  uint32_t dstAddr = 0;  // host byte order
  uint8_t gsoType = 0;   // without the ECN bit
  uint16_t gsoSize = 0;
  size_t ipHeaderLen = 0;   // 0 unless ipv4
  size_t l4HeaderLen = 0;   // TCP header length for a splittable TCP GSO packet, else 0
  size_t payloadLen = 0;    // TCP payload bytes (splittable packets only)
  uint32_t segments = 1;    // wire packets this buffer stands for
  uint64_t wireBytes = 0;   // IP bytes on the wire, headers counted per segment
  bool splittable = false;  // TCP over IPv4 with gso_type TCPV4 and consistent headers
};

// Parses buf (vnet header + IP packet, len bytes). False when too short to hold a vnet header
// and an IPv4 header (then out->ipv4 stays false and the packet is not routable).
bool inspectPacket(const uint8_t* buf, size_t len, PacketInfo* out);

// Writes into out (room for len + kVnetHdrLen bytes suffices) the packet that carries segments
// [first, first + count) of a splittable packet; returns its length (vnet header included).
// Its wire size is reported in *wireBytes.
size_t buildPiece(const uint8_t* buf, size_t len, const PacketInfo& info, uint32_t first,
                  uint32_t count, uint8_t* out, uint64_t* wireBytes);

// RFC 1071 checksum helpers (exposed for tests).
uint16_t ipHeaderChecksum(const uint8_t* ipHeader, size_t len);

}  // namespace isthmus::wanem
