// inspectPacket / buildPiece: segment counting, wire bytes, and rebuilt headers of GSO pieces.
#include "tools/wanem/packet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace isthmus::wanem {
namespace {

constexpr size_t kIp = 20, kTcp = 32, kMss = 1448;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// A TCP/IPv4 GSO super-packet from 10.77.0.1 to 10.77.0.2 as a TUN with IFF_VNET_HDR hands it.
std::vector<uint8_t> makeGso(size_t payload, uint8_t tcpFlags, uint8_t gsoType = kVnetGsoTcpV4) {
  std::vector<uint8_t> b(kVnetHdrLen + kIp + kTcp + payload, 0);
  b[0] = kVnetFlagNeedsCsum;
  b[1] = gsoType;
  b[2] = kIp + kTcp;
  b[4] = kMss & 0xff;
  b[5] = kMss >> 8;
  b[6] = kIp;
  b[8] = 16;
  uint8_t* ip = b.data() + kVnetHdrLen;
  ip[0] = 0x45;
  size_t total = kIp + kTcp + payload;
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  ip[4] = 0;
  ip[5] = 100;   // id
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t src[4] = {10, 77, 0, 1}, dst[4] = {10, 77, 0, 2};
  std::copy(src, src + 4, ip + 12);
  std::copy(dst, dst + 4, ip + 16);
  uint16_t sum = ipHeaderChecksum(ip, kIp);
  ip[10] = static_cast<uint8_t>(sum >> 8);
  ip[11] = static_cast<uint8_t>(sum);
  uint8_t* tcp = ip + kIp;
  tcp[0] = 0x13;  // port 5001 -> 40000
  tcp[1] = 0x89;
  tcp[2] = 0x9c;
  tcp[3] = 0x40;
  tcp[4] = 0x01;  // seq 0x01000000
  tcp[12] = (kTcp / 4) << 4;
  tcp[13] = tcpFlags;
  for (size_t i = 0; i < payload; ++i) ip[kIp + kTcp + i] = static_cast<uint8_t>(i * 7 + 3);
  return b;
}

TEST(PacketTest, InspectCountsSegmentsAndWireBytes) {
  auto pkt = makeGso(10000, 0x10);
  PacketInfo info;
  ASSERT_TRUE(inspectPacket(pkt.data(), pkt.size(), &info));
  EXPECT_TRUE(info.ipv4);
  EXPECT_EQ(info.dstAddr, (10u << 24) | (77u << 16) | 2u);
  EXPECT_TRUE(info.splittable);
  EXPECT_EQ(info.segments, 7u);  // ceil(10000 / 1448)
  EXPECT_EQ(info.payloadLen, 10000u);
  EXPECT_EQ(info.wireBytes, 10000u + 7 * (kIp + kTcp));

  auto plain = makeGso(100, 0x18, kVnetGsoNone);
  ASSERT_TRUE(inspectPacket(plain.data(), plain.size(), &info));
  EXPECT_FALSE(info.splittable);
  EXPECT_EQ(info.segments, 1u);
  EXPECT_EQ(info.wireBytes, kIp + kTcp + 100);

  std::vector<uint8_t> tooShort(kVnetHdrLen + 10, 0);
  EXPECT_FALSE(inspectPacket(tooShort.data(), tooShort.size(), &info));
  EXPECT_FALSE(info.ipv4);
  auto v6 = makeGso(100, 0x10);
  v6[kVnetHdrLen] = 0x60;
  EXPECT_FALSE(inspectPacket(v6.data(), v6.size(), &info));
}

TEST(PacketTest, PiecesCarryTheRightBytesAndHeaders) {
  const uint8_t kCwrPshAck = 0x80 | 0x08 | 0x10;
  auto pkt = makeGso(10000, kCwrPshAck);
  PacketInfo info;
  ASSERT_TRUE(inspectPacket(pkt.data(), pkt.size(), &info));
  const uint8_t* origPayload = pkt.data() + kVnetHdrLen + kIp + kTcp;

  // Segments 0..6; pretend 1 and 5 were lost: pieces [0,1), [2,5), [6,7).
  struct Case {
    uint32_t first, count;
  } cases[] = {{0, 1}, {2, 3}, {6, 1}};
  uint64_t wireSum = 0;
  for (const Case& c : cases) {
    std::vector<uint8_t> out(pkt.size());
    uint64_t wire = 0;
    size_t len = buildPiece(pkt.data(), pkt.size(), info, c.first, c.count, out.data(), &wire);
    size_t off = c.first * kMss;
    size_t payload = std::min<size_t>(c.count * kMss, 10000 - off);
    ASSERT_EQ(len, kVnetHdrLen + kIp + kTcp + payload);
    const uint8_t* ip = out.data() + kVnetHdrLen;
    const uint8_t* tcp = ip + kIp;
    EXPECT_EQ(be16(ip + 2), kIp + kTcp + payload);
    EXPECT_EQ(be16(ip + 4), 100 + c.first);
    EXPECT_EQ(ipHeaderChecksum(ip, kIp), be16(ip + 10));
    EXPECT_EQ(be32(tcp + 4), 0x01000000u + off);
    EXPECT_EQ(0, std::memcmp(ip + kIp + kTcp, origPayload + off, payload));
    bool last = off + payload == 10000;
    EXPECT_EQ((tcp[13] & 0x80) != 0, c.first == 0) << "CWR only on the first piece";
    EXPECT_EQ((tcp[13] & 0x08) != 0, last) << "PSH only on the last piece";
    EXPECT_NE(tcp[13] & 0x10, 0) << "ACK kept";
    // virtio header: multi-segment pieces stay GSO, single ones become plain packets.
    EXPECT_EQ(out[1], c.count > 1 ? kVnetGsoTcpV4 : kVnetGsoNone);
    EXPECT_EQ(out[0], kVnetFlagNeedsCsum);
    // Partial checksum field: the folded pseudo-header sum for this segment length.
    uint32_t sum =
        (10 << 8 | 77) + 1 + (10 << 8 | 77) + 2 + 6 + static_cast<uint32_t>(kTcp + payload);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    EXPECT_EQ(be16(tcp + 16), sum);
    EXPECT_EQ(wire, payload + c.count * (kIp + kTcp));
    PacketInfo pi;
    ASSERT_TRUE(inspectPacket(out.data(), len, &pi));
    EXPECT_EQ(pi.segments, c.count);
    EXPECT_EQ(pi.wireBytes, wire);
    wireSum += wire;
  }
  EXPECT_EQ(wireSum, info.wireBytes - 2 * (kIp + kTcp + kMss));
}

}  // namespace
}  // namespace isthmus::wanem
