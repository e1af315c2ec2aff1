// IPv4/TCP header arithmetic for the relay: see packet.h.
#include "tools/wanem/packet.h"

#include <cstring>

namespace isthmus::wanem {
namespace {

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
// virtio_net_hdr fields are little-endian on this (x86) host.
uint16_t loadLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void storeLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

uint32_t sum16(const uint8_t* p, size_t len, uint32_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += load16(p + i);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1]) << 8;
  return sum;
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;

}  // namespace

uint16_t ipHeaderChecksum(const uint8_t* ipHeader, size_t len) {
  uint32_t sum = sum16(ipHeader, 10, 0);  // skip the checksum field itself (bytes 10..11)
  sum = sum16(ipHeader + 12, len - 12, sum);
  return static_cast<uint16_t>(~fold(sum));
}

bool inspectPacket(const uint8_t* buf, size_t len, PacketInfo* out) {
  *out = PacketInfo{};
  if (len < kVnetHdrLen + 20) return false;
  const uint8_t* ip = buf + kVnetHdrLen;
  size_t ipLen = len - kVnetHdrLen;
  out->wireBytes = ipLen;
  if ((ip[0] >> 4) != 4) return false;
  size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
  if (ihl < 20 || ihl > ipLen) return false;
  out->ipv4 = true;
  out->ipHeaderLen = ihl;
  out->dstAddr = load32(ip + 16);
  out->gsoType = buf[1] & static_cast<uint8_t>(~kVnetGsoEcn);
  out->gsoSize = loadLe16(buf + 4);
  if (out->gsoType == kVnetGsoNone || out->gsoSize == 0) return true;
  // A GSO packet: work out how many segments it becomes on the wire.
  size_t l4 = 0;
  bool tcp = ip[9] == 6 && out->gsoType == kVnetGsoTcpV4 && ipLen >= ihl + 20;
  if (tcp) {
    l4 = static_cast<size_t>(ip[ihl + 12] >> 4) * 4;
    if (l4 < 20 || ihl + l4 > ipLen) tcp = false;
  }
  if (!tcp) {
    // Not something we split (UDP GSO is never offered to the TUN): estimate its segments so
    // the rate is still charged fairly; loss then applies to it as a whole.
    size_t hdr = ihl + 8;
    size_t payload = ipLen > hdr ? ipLen - hdr : 0;
    uint32_t n = static_cast<uint32_t>((payload + out->gsoSize - 1) / out->gsoSize);
    out->segments = n == 0 ? 1 : n;
    out->wireBytes = ipLen + static_cast<uint64_t>(out->segments - 1) * hdr;
    return true;
  }
  out->l4HeaderLen = l4;
  out->payloadLen = ipLen - ihl - l4;
  uint32_t n = static_cast<uint32_t>((out->payloadLen + out->gsoSize - 1) / out->gsoSize);
  out->segments = n == 0 ? 1 : n;
  out->wireBytes = ipLen + static_cast<uint64_t>(out->segments - 1) * (ihl + l4);
  out->splittable = out->segments > 1;
  return true;
}

size_t buildPiece(const uint8_t* buf, size_t len, const PacketInfo& info, uint32_t first,
                  uint32_t count, uint8_t* out, uint64_t* wireBytes) {
  const size_t ihl = info.ipHeaderLen;
  const size_t l4 = info.l4HeaderLen;
  const size_t mss = info.gsoSize;
  const uint8_t* ip = buf + kVnetHdrLen;
  size_t offset = static_cast<size_t>(first) * mss;
  size_t end = offset + static_cast<size_t>(count) * mss;
  if (end > info.payloadLen) end = info.payloadLen;
  size_t payload = end - offset;
  bool last = end == info.payloadLen;
  uint32_t segs = static_cast<uint32_t>((payload + mss - 1) / mss);

  // virtio_net_hdr: a single segment becomes a plain packet; the checksum stays partial
  // (csum_start = the TCP header, csum_offset = its checksum field) so the kernel trusts it.
  std::memcpy(out, buf, kVnetHdrLen);
  out[0] = kVnetFlagNeedsCsum;
  if (segs <= 1) {
    out[1] = kVnetGsoNone;
    storeLe16(out + 4, 0);
  }
  storeLe16(out + 2, static_cast<uint16_t>(ihl + l4));
  storeLe16(out + 6, static_cast<uint16_t>(ihl));
  storeLe16(out + 8, 16);

  uint8_t* oip = out + kVnetHdrLen;
  std::memcpy(oip, ip, ihl + l4);
  std::memcpy(oip + ihl + l4, ip + ihl + l4 + offset, payload);
  size_t total = ihl + l4 + payload;
  store16(oip + 2, static_cast<uint16_t>(total));
  store16(oip + 4, static_cast<uint16_t>(load16(ip + 4) + first));  // one IP id per segment
  store16(oip + 10, 0);
  store16(oip + 10, ipHeaderChecksum(oip, ihl));

  uint8_t* tcp = oip + ihl;
  store32(tcp + 4, load32(ip + ihl + 4) + static_cast<uint32_t>(offset));
  uint8_t flags = tcp[13];
  if (first > 0) flags &= static_cast<uint8_t>(~kTcpCwr);          // CWR only on the first
  if (!last) flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));  // FIN/PSH only on the last
  tcp[13] = flags;
  // Partial checksum: the folded (not inverted) pseudo-header sum for this length.
  uint32_t sum = sum16(oip + 12, 8, 0) + 6 + static_cast<uint32_t>(l4 + payload);
  store16(tcp + 16, fold(sum));

  *wireBytes = total + static_cast<uint64_t>(segs > 0 ? segs - 1 : 0) * (ihl + l4);
  (void)len;
  return kVnetHdrLen + total;
}

}  // namespace isthmus::wanem
