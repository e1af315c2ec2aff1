// TUN device, sysctls and link counters: see tun_device.h.
#include "tools/wanem/tun_device.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tools/wanem/packet.h"

namespace isthmus::wanem {
namespace {

std::string errnoText(int err) { return strCat(std::strerror(err), " (errno ", err, ")"); }

Status ifreqIoctl(int sock, unsigned long req, struct ifreq* ifr, const char* what) {
  if (ioctl(sock, req, ifr) != 0) {
    return internalError(what, " on ", ifr->ifr_name, ": ", errnoText(errno));
  }
  return okStatus();
}

// Brings ifname up; clearFlags are turned off at the same time.
Status setUp(int sock, const char* ifname, short clearFlags = 0) {
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  ISTHMUS_RETURN_IF_ERROR(ifreqIoctl(sock, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS"));
  ifr.ifr_flags = static_cast<short>((ifr.ifr_flags | IFF_UP) & ~clearFlags);
  return ifreqIoctl(sock, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS(up)");
}

Status setAddress(int sock, const char* ifname, unsigned long req, uint32_t addr,
                  const char* what) {
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
  auto* sin = reinterpret_cast<struct sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = addr;
  return ifreqIoctl(sock, req, &ifr, what);
}

std::string sysctlPath(const std::string& key) {
  std::string path = "/proc/sys/" + key;
  for (size_t i = 10; i < path.size(); ++i) {
    if (path[i] == '.') path[i] = '/';
  }
  return path;
}

}  // namespace

Result<int> createTun(const TunSetup& setup) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return internalError("open /dev/net/tun: ", errnoText(errno));
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, setup.ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  int hdrLen = static_cast<int>(kVnetHdrLen);
  Status st;
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    st = internalError("TUNSETIFF ", setup.ifname, ": ", errnoText(errno));
  } else if (ioctl(fd, TUNSETVNETHDRSZ, &hdrLen) != 0) {
    st = internalError("TUNSETVNETHDRSZ ", setup.ifname, ": ", errnoText(errno));
  } else if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4) != 0) {
    // GSO passthrough: the kernel hands us TCP super-packets of up to 64 KiB (MTU stays 1500).
    st = internalError("TUNSETOFFLOAD ", setup.ifname, ": ", errnoText(errno));
  }
  if (!st.ok()) {
    close(fd);
    return st;
  }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    close(fd);
    return internalError("socket(AF_INET): ", errnoText(errno));
  }
  struct in_addr addr {};
  if (inet_pton(AF_INET, setup.address.c_str(), &addr) != 1) {
    st = invalidArgumentError("bad address '", setup.address, "'");
  }
  uint32_t mask = htonl(setup.prefixLen == 0 ? 0 : ~0u << (32 - setup.prefixLen));
  const char* name = setup.ifname.c_str();
  if (st.ok()) st = setUp(sock, "lo");
  if (st.ok()) st = setAddress(sock, name, SIOCSIFADDR, addr.s_addr, "SIOCSIFADDR");
  if (st.ok()) st = setAddress(sock, name, SIOCSIFNETMASK, mask, "SIOCSIFNETMASK");
  if (st.ok()) {
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_mtu = setup.mtu;
    st = ifreqIoctl(sock, SIOCSIFMTU, &ifr, "SIOCSIFMTU");
  }
  if (st.ok()) {
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_qlen = setup.txQueueLen;
    st = ifreqIoctl(sock, SIOCSIFTXQLEN, &ifr, "SIOCSIFTXQLEN");
  }
  // No multicast on the WAN device: no IGMP reports wandering into the relay.
  if (st.ok()) st = setUp(sock, name, IFF_MULTICAST);
  close(sock);
  if (!st.ok()) {
    close(fd);
    return st;
  }
  return fd;
}

Status writeSysctl(const std::string& key, const std::string& value) {
  std::string path = sysctlPath(key);
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return internalError("sysctl ", key, ": open ", path, ": ", errnoText(errno));
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return internalError("sysctl ", key, "=", value, ": ", errnoText(err));
  }
  return okStatus();
}

Result<std::string> readSysctl(const std::string& key) {
  std::ifstream in(sysctlPath(key));
  std::string line;
  if (!in || !std::getline(in, line)) return internalError("sysctl ", key, ": cannot read");
  for (char& c : line) {
    if (c == '\t') c = ' ';
  }
  return line;
}

LinkCounters::~LinkCounters() {
  if (fd_ >= 0) close(fd_);
}

Status LinkCounters::open(const std::string& ifname) {
  ifindex_ = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex_ == 0) return internalError("if_nametoindex ", ifname, ": ", errnoText(errno));
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) return internalError("socket(NETLINK_ROUTE): ", errnoText(errno));
  struct timeval tv {
    0, 200000
  };
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return okStatus();
}

Result<uint64_t> LinkCounters::txDropped() {
  if (fd_ < 0) return internalError("LinkCounters not open");
  struct {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
  } req{};
  req.nh.nlmsg_len = sizeof(req);
  req.nh.nlmsg_type = RTM_GETLINK;
  req.nh.nlmsg_flags = NLM_F_REQUEST;
  req.nh.nlmsg_seq = ++seq_;
  req.ifi.ifi_family = AF_UNSPEC;
  req.ifi.ifi_index = ifindex_;
  if (send(fd_, &req, sizeof(req), 0) < 0) return internalError("RTM_GETLINK: ", errnoText(errno));
  alignas(8) char buf[16384];
  for (;;) {
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return internalError("RTM_GETLINK reply: ", errnoText(errno));
    for (auto* nh = reinterpret_cast<struct nlmsghdr*>(buf); NLMSG_OK(nh, n);
         nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_seq != seq_) continue;
      if (nh->nlmsg_type == NLMSG_ERROR) return internalError("RTM_GETLINK: netlink error");
      if (nh->nlmsg_type != RTM_NEWLINK) continue;
      auto* ifi = static_cast<struct ifinfomsg*>(NLMSG_DATA(nh));
      int len = static_cast<int>(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
      for (auto* rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == IFLA_STATS64 && RTA_PAYLOAD(rta) >= sizeof(struct rtnl_link_stats64)) {
          struct rtnl_link_stats64 s;
          std::memcpy(&s, RTA_DATA(rta), sizeof(s));
          return static_cast<uint64_t>(s.tx_dropped);
        }
      }
      return internalError("RTM_GETLINK: no IFLA_STATS64");
    }
  }
}

}  // namespace isthmus::wanem
