// Parsing and printing of WAN specs ("rate=1gbit,rtt=40ms;0-1:rate=100mbit").
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "tools/wanem/wan_emulation.h"

namespace isthmus::wanem {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

// Splits "12.5mbit" into 12.5 and "mbit". False when there is no leading number.
bool splitNumber(const std::string& text, double* number, std::string* unit) {
  const char* begin = text.c_str();
  char* end = nullptr;
  double v = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(v)) return false;
  *number = v;
  *unit = lower(trim(std::string(end)));
  return true;
}

Status badValue(const std::string& key, const std::string& value, const std::string& why) {
  return invalidArgumentError("WAN spec: bad value '", value, "' for key '", key, "': ", why);
}

Status parseRate(const std::string& key, const std::string& value, double* out) {
  double v;
  std::string unit;
  if (!splitNumber(value, &v, &unit)) return badValue(key, value, "expected a number and a unit");
  static const std::pair<const char*, double> kUnits[] = {
      {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12}};
  for (const auto& u : kUnits) {
    if (unit == u.first) {
      if (v <= 0) return badValue(key, value, "a rate must be positive");
      *out = v * u.second;
      return okStatus();
    }
  }
  if (unit == "bps" || unit == "kbps" || unit == "mbps" || unit == "gbps") {
    return badValue(key, value,
                    "ambiguous unit '" + unit + "' (bytes or bits?): use kbit/mbit/gbit");
  }
  return badValue(key, value,
                  unit.empty() ? "missing unit (bit, kbit, mbit, gbit, tbit)"
                               : "unit '" + unit + "' is not one of bit, kbit, mbit, gbit, tbit");
}

Status parseTimeMs(const std::string& key, const std::string& value, double* outMs) {
  double v;
  std::string unit;
  if (!splitNumber(value, &v, &unit)) return badValue(key, value, "expected a number and a unit");
  double scale;
  if (unit == "us") {
    scale = 1e-3;
  } else if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1e3;
  } else if (unit.empty() && v == 0) {
    scale = 1;
  } else {
    return badValue(
        key, value,
        unit.empty() ? "missing unit (us, ms, s)" : "unit '" + unit + "' is not one of us, ms, s");
  }
  if (v < 0) return badValue(key, value, "a time must not be negative");
  *outMs = v * scale;
  return okStatus();
}

Status parseLoss(const std::string& key, const std::string& value, double* out) {
  double v;
  std::string unit;
  if (!splitNumber(value, &v, &unit)) return badValue(key, value, "expected 0.01 or 1%");
  if (unit == "%") {
    v /= 100;
  } else if (!unit.empty()) {
    return badValue(key, value, "expected a fraction (0.01) or a percentage (1%)");
  }
  if (v < 0 || v > 1) return badValue(key, value, "loss must be between 0 and 1 (0% and 100%)");
  *out = v;
  return okStatus();
}

Status parseBytes(const std::string& key, const std::string& value, int64_t* out) {
  if (lower(value) == "default") {
    *out = 0;
    return okStatus();
  }
  double v;
  std::string unit;
  if (!splitNumber(value, &v, &unit)) return badValue(key, value, "expected 'default' or a size");
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "k" || unit == "kb" || unit == "kib") scale = 1024.0;
  if (unit == "m" || unit == "mb" || unit == "mib") scale = 1024.0 * 1024;
  if (unit == "g" || unit == "gb" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  if (scale == 0) return badValue(key, value, "unit '" + unit + "' is not one of k, m, g (KiB..)");
  double bytes = v * scale;
  if (bytes < 4096 || bytes > 2147483647.0) {
    return badValue(key, value, "a TCP buffer limit must be between 4 KiB and 2 GiB");
  }
  *out = static_cast<int64_t>(bytes);
  return okStatus();
}

// Applies "key=value,key=value" to `link` (and, when `spec` is not null, the global keys).
Status parseSection(const std::string& section, LinkParams* link, WanSpec* spec) {
  for (const std::string& raw : split(section, ',')) {
    std::string item = trim(raw);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos) {
      return invalidArgumentError("WAN spec: '", item, "' is not key=value (in \"", section, "\")");
    }
    std::string key = lower(trim(item.substr(0, eq)));
    std::string value = trim(item.substr(eq + 1));
    if (key == "rate") {
      ISTHMUS_RETURN_IF_ERROR(parseRate(key, value, &link->rateBitsPerSec));
    } else if (key == "rtt") {
      ISTHMUS_RETURN_IF_ERROR(parseTimeMs(key, value, &link->rttMs));
    } else if (key == "jitter") {
      ISTHMUS_RETURN_IF_ERROR(parseTimeMs(key, value, &link->jitterMs));
    } else if (key == "queue") {
      if (lower(value) == "auto") {
        link->queueMs = -1;
      } else {
        ISTHMUS_RETURN_IF_ERROR(parseTimeMs(key, value, &link->queueMs));
      }
    } else if (key == "loss") {
      ISTHMUS_RETURN_IF_ERROR(parseLoss(key, value, &link->lossRate));
    } else if (spec != nullptr && key == "cc") {
      std::string cc = lower(value);
      if (cc.empty() ||
          cc.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
        return badValue(key, value, "expected a congestion control name such as cubic or bbr");
      }
      spec->tcp.congestionControl = cc;
    } else if (spec != nullptr && key == "tcpbuf") {
      ISTHMUS_RETURN_IF_ERROR(parseBytes(key, value, &spec->tcp.maxBufferBytes));
    } else if (spec != nullptr && key == "slowstart_after_idle") {
      if (value != "0" && value != "1") return badValue(key, value, "expected 1 or 0");
      spec->tcp.slowStartAfterIdle = value == "1";
    } else if (spec != nullptr && key == "late") {
      ISTHMUS_RETURN_IF_ERROR(parseTimeMs(key, value, &spec->lateToleranceMs));
    } else if (key == "cc" || key == "tcpbuf" || key == "late" || key == "slowstart_after_idle") {
      return invalidArgumentError("WAN spec: key '", key,
                                  "' applies to every namespace: put it in the first section, not "
                                  "in a per-pair section");
    } else {
      return invalidArgumentError(
          "WAN spec: unknown key '", key, "' (in '", item,
          "'); known: rate, rtt, jitter, loss, queue, cc, tcpbuf, slowstart_after_idle, late");
    }
  }
  return okStatus();
}

std::string formatRate(double bps) {
  std::ostringstream os;
  os.precision(12);
  if (bps >= 1e12 && std::fmod(bps, 1e12) == 0) {
    os << bps / 1e12 << "tbit";
  } else if (bps >= 1e9 && std::fmod(bps, 1e9) == 0) {
    os << bps / 1e9 << "gbit";
  } else if (bps >= 1e6 && std::fmod(bps, 1e6) == 0) {
    os << bps / 1e6 << "mbit";
  } else if (bps >= 1e3 && std::fmod(bps, 1e3) == 0) {
    os << bps / 1e3 << "kbit";
  } else {
    os << bps << "bit";
  }
  return os.str();
}

std::string formatMs(double ms) {
  std::ostringstream os;
  os.precision(12);
  os << ms << "ms";
  return os.str();
}

}  // namespace

double LinkParams::effectiveQueueMs() const {
  return queueMs >= 0 ? queueMs : std::max(5.0, rttMs / 2);
}

std::string LinkParams::toString() const {
  std::ostringstream os;
  os.precision(12);
  os << "rate=" << formatRate(rateBitsPerSec) << ",rtt=" << formatMs(rttMs)
     << ",jitter=" << formatMs(jitterMs) << ",loss=" << lossRate
     << ",queue=" << (queueMs < 0 ? std::string("auto") : formatMs(queueMs));
  return os.str();
}

const LinkParams& WanSpec::link(int a, int b) const {
  auto it = perPair.find({std::min(a, b), std::max(a, b)});
  return it == perPair.end() ? defaults : it->second;
}

std::string WanSpec::toString() const {
  std::ostringstream os;
  os << defaults.toString() << ",cc=" << tcp.congestionControl << ",tcpbuf="
     << (tcp.maxBufferBytes > 0 ? std::to_string(tcp.maxBufferBytes) : std::string("default"))
     << (tcp.slowStartAfterIdle ? "" : ",slowstart_after_idle=0")
     << ",late=" << formatMs(lateToleranceMs);
  for (const auto& [pair, link] : perPair) {
    os << ";" << pair.first << "-" << pair.second << ":" << link.toString();
  }
  return os.str();
}

Result<WanSpec> parseWanSpec(const std::string& text) {
  WanSpec spec;
  std::vector<std::string> sections = split(text, ';');
  ISTHMUS_RETURN_IF_ERROR(parseSection(sections[0], &spec.defaults, &spec));
  for (size_t i = 1; i < sections.size(); ++i) {
    std::string section = trim(sections[i]);
    if (section.empty()) continue;
    size_t colon = section.find(':');
    int a = -1, b = -1;
    char dash = 0;
    std::string pairText = colon == std::string::npos ? section : section.substr(0, colon);
    std::istringstream is(pairText);
    if (colon == std::string::npos || !(is >> a >> dash >> b) || dash != '-' || !is.eof() ||
        a < 0 || b < 0 || a == b) {
      return invalidArgumentError("WAN spec: per-pair section '", section,
                                  "' must start with 'a-b:' naming two different centers, e.g. "
                                  "'0-1:rate=100mbit'");
    }
    std::pair<int, int> key{std::min(a, b), std::max(a, b)};
    if (spec.perPair.count(key)) {
      return invalidArgumentError("WAN spec: pair ", key.first, "-", key.second, " appears twice");
    }
    // A pair section starts from the defaults, wherever they appear in the text.
    spec.perPair[key] = LinkParams{};
  }
  for (size_t i = 1; i < sections.size(); ++i) {
    std::string section = trim(sections[i]);
    if (section.empty()) continue;
    size_t colon = section.find(':');
    int a = 0, b = 0;
    char dash = 0;
    std::istringstream is(section.substr(0, colon));
    is >> a >> dash >> b;
    LinkParams link = spec.defaults;
    ISTHMUS_RETURN_IF_ERROR(parseSection(section.substr(colon + 1), &link, nullptr)
                                .withContext(strCat("pair ", a, "-", b)));
    spec.perPair[{std::min(a, b), std::max(a, b)}] = link;
  }
  return spec;
}

Status validateWanSpec(const WanSpec& spec, int numCenters) {
  if (numCenters < 1 || numCenters > 200) {
    return invalidArgumentError("WAN emulation: number of centers ", numCenters,
                                " is out of range 1..200");
  }
  auto checkLink = [](const LinkParams& l, const std::string& where) -> Status {
    if (!(l.rateBitsPerSec > 0) || l.rateBitsPerSec > 400e9) {
      return invalidArgumentError(where, ": rate ", l.rateBitsPerSec, " bit/s out of (0, 400gbit]");
    }
    if (!(l.rttMs >= 0) || l.rttMs > 10000) {
      return invalidArgumentError(where, ": rtt ", l.rttMs, " ms out of [0, 10 s]");
    }
    if (!(l.jitterMs >= 0) || l.jitterMs > 5000) {
      return invalidArgumentError(where, ": jitter ", l.jitterMs, " ms out of [0, 5 s]");
    }
    if (!(l.lossRate >= 0 && l.lossRate <= 1)) {
      return invalidArgumentError(where, ": loss ", l.lossRate, " out of [0, 1]");
    }
    if (l.queueMs > 10000) {
      return invalidArgumentError(where, ": queue ", l.queueMs, " ms above 10 s");
    }
    return okStatus();
  };
  ISTHMUS_RETURN_IF_ERROR(checkLink(spec.defaults, "WAN spec defaults"));
  for (const auto& [pair, link] : spec.perPair) {
    if (pair.first < 0 || pair.second >= numCenters || pair.first >= pair.second) {
      return invalidArgumentError("WAN spec: pair ", pair.first, "-", pair.second,
                                  " does not name two of the ", numCenters, " centers 0..",
                                  numCenters - 1);
    }
    ISTHMUS_RETURN_IF_ERROR(
        checkLink(link, strCat("WAN spec pair ", pair.first, "-", pair.second)));
  }
  if (!(spec.lateToleranceMs > 0)) {
    return invalidArgumentError("WAN spec: late tolerance must be positive, got ",
                                spec.lateToleranceMs, " ms");
  }
  return okStatus();
}

WanSpec wanSpecFromLinks(const WanSpec& base, const std::vector<PairLink>& links) {
  WanSpec spec = base;
  for (const PairLink& l : links) {
    std::pair<int, int> key{std::min(l.a, l.b), std::max(l.a, l.b)};
    LinkParams p = base.link(key.first, key.second);
    if (l.bandwidthGbps > 0) p.rateBitsPerSec = l.bandwidthGbps * 1e9;
    if (l.rttMs >= 0) p.rttMs = l.rttMs;
    p.lossRate = std::clamp(l.lossPercent / 100.0, 0.0, 1.0);
    p.jitterMs = std::max(0.0, l.jitterMs);
    spec.perPair[key] = p;
  }
  return spec;
}

}  // namespace isthmus::wanem
