// Network namespace creation, deletion, naming and stale clean-up: see netns.h.
#include "tools/wanem/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "runtime/core/logging.h"
#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {
namespace {

std::string errnoText(int err) { return strCat(std::strerror(err), " (errno ", err, ")"); }

// Makes /run/netns a shared mount point, as iproute2 does, so bind mounts under it propagate.
Status prepareRunDir() {
  if (mkdir(kNetnsRunDir, 0755) != 0 && errno != EEXIST) {
    return internalError("mkdir ", kNetnsRunDir, ": ", errnoText(errno));
  }
  if (mount("", kNetnsRunDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return okStatus();
  if (errno != EINVAL) {
    return internalError("mount --make-rshared ", kNetnsRunDir, ": ", errnoText(errno));
  }
  // Not a mount point yet: bind it onto itself, then make it shared.
  if (mount(kNetnsRunDir, kNetnsRunDir, "none", MS_BIND | MS_REC, nullptr) != 0) {
    return internalError("mount --bind ", kNetnsRunDir, ": ", errnoText(errno));
  }
  if (mount("", kNetnsRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    return internalError("mount --make-rshared ", kNetnsRunDir, ": ", errnoText(errno));
  }
  return okStatus();
}

}  // namespace

uint64_t processStartTime(int pid) {
  std::ifstream in(strCat("/proc/", pid, "/stat"));
  std::string text;
  if (!in || !std::getline(in, text)) return 0;
  // Field 2 (comm) may contain spaces and parentheses: parse after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream is(text.substr(close + 1));
  std::string field;
  // Fields 3..22 follow; starttime is field 22, the 20th after comm.
  for (int i = 3; i <= 22; ++i) {
    if (!(is >> field)) return 0;
  }
  return std::strtoull(field.c_str(), nullptr, 10);
}

OwnerId selfOwner() {
  OwnerId id;
  id.pid = static_cast<int>(getpid());
  id.startTime = processStartTime(id.pid);
  return id;
}

std::string makeNetnsName(const OwnerId& owner, int instance, int center) {
  return strCat(kNetnsPrefix, owner.pid, "-", owner.startTime, "-", instance, "-c", center);
}

bool parseNetnsName(const std::string& name, OwnerId* owner) {
  const std::string prefix = kNetnsPrefix;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  int pid = 0, instance = 0, center = 0;
  unsigned long long start = 0;
  char tail = 0;
  if (std::sscanf(name.c_str() + prefix.size(), "%d-%llu-%d-c%d%c", &pid, &start, &instance,
                  &center, &tail) != 4) {
    return false;
  }
  if (pid <= 0 || name != makeNetnsName(OwnerId{pid, start}, instance, center)) return false;
  owner->pid = pid;
  owner->startTime = start;
  return true;
}

Status createNetns(const std::string& name) {
  ISTHMUS_RETURN_IF_ERROR(prepareRunDir());
  std::string path = strCat(kNetnsRunDir, "/", name);
  int fd = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return internalError("create ", path, ": ", errnoText(errno));
  close(fd);
  Status result;
  // unshare() moves only the calling thread into the new namespace: use a throwaway thread.
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      result = internalError("unshare(CLONE_NEWNET) for ", name, ": ", errnoText(errno));
      return;
    }
    std::string self = strCat("/proc/self/task/", syscall(SYS_gettid), "/ns/net");
    if (mount(self.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0) {
      result = internalError("bind-mount ", self, " on ", path, ": ", errnoText(errno));
    }
  });
  t.join();
  if (!result.ok()) unlink(path.c_str());
  return result;
}

Status deleteNetns(const std::string& name) {
  std::string path = strCat(kNetnsRunDir, "/", name);
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return internalError("umount ", path, ": ", errnoText(errno));
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return internalError("unlink ", path, ": ", errnoText(errno));
  }
  return okStatus();
}

Status runInNetns(const std::string& path, const std::function<Status()>& fn) {
  Status result;
  std::thread t([&] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = internalError("open ", path, ": ", errnoText(errno));
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      result = internalError("setns ", path, ": ", errnoText(errno));
      close(fd);
      return;
    }
    close(fd);
    result = fn();
  });
  t.join();
  return result;
}

Status cleanupStaleNamespaces(int* removed) {
  int count = 0;
  DIR* dir = opendir(kNetnsRunDir);
  if (dir == nullptr) {
    if (removed != nullptr) *removed = 0;
    return errno == ENOENT ? okStatus()
                           : internalError("opendir ", kNetnsRunDir, ": ", errnoText(errno));
  }
  std::vector<std::string> stale;
  while (struct dirent* e = readdir(dir)) {
    OwnerId owner;
    if (!parseNetnsName(e->d_name, &owner)) continue;
    if (processStartTime(owner.pid) == owner.startTime) continue;  // owner alive: not ours
    stale.push_back(e->d_name);
  }
  closedir(dir);
  Status first;
  for (const std::string& name : stale) {
    Status st = deleteNetns(name);
    if (st.ok()) {
      ++count;
      ISTHMUS_LOG(kInfo) << "wanem: removed stale namespace " << name << " (owner is gone)";
    } else if (first.ok()) {
      first = st;
    }
  }
  if (removed != nullptr) *removed = count;
  return first;
}

}  // namespace isthmus::wanem
