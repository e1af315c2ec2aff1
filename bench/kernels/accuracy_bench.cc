// Accuracy of each codec on Gaussian and heavy-tailed (Student-t, 3 degrees of freedom) data,
// with and without error feedback, over 100 steps of fresh data.
//
// Printed per codec and distribution:
//   step_err    mean over steps of ||D(Q(x_t)) - x_t|| / ||x_t||   (one message, no EF)
//   sum_noEF    ||sum_t D(Q(x_t)) - sum_t x_t|| / ||sum_t x_t||      (what an optimizer sees
//   sum_EF      the same with error feedback                          after 100 steps)
//   B/elem      message bytes per element
// Then the int8 / int4 block-size sweep used to pick the defaults (docs/kernels.md).
// Usage: isthmus_bench_kernels_accuracy [elements=1048576] [steps=100]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/codec.h"

namespace isthmus::kernels {
namespace {

struct Acc {
  double stepErr = 0, sumNoEf = 0, sumEf = 0, bytesPerElem = 0;
};

std::vector<float> draw(bool heavy, size_t n, std::mt19937& rng) {
  std::vector<float> v(n);
  if (heavy) {
    std::student_t_distribution<float> d(3.0f);
    for (auto& x : v) x = d(rng);
  } else {
    std::normal_distribution<float> d(0.0f, 1.0f);
    for (auto& x : v) x = d(rng);
  }
  return v;
}

double relL2(const std::vector<double>& a, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

Acc measure(const std::string& name, bool heavy, size_t n, int steps) {
  Codec c = Codec::create(name).value();
  std::mt19937 rng(1234);
  std::vector<float> r(n, 0.0f), d(n);
  std::vector<double> sumIn(n, 0), sumEf(n, 0), sumNo(n, 0);
  std::vector<uint8_t> msg(c.maxEncodedBytes(n, DType::kFloat32));
  Acc a;
  a.bytesPerElem = static_cast<double>(msg.size()) / n;
  for (int t = 0; t < steps; ++t) {
    auto x = draw(heavy, n, rng);
    ConstBufferView xv(x.data(), n, DType::kFloat32);
    (void)c.encode(xv, msg.data(), msg.size());
    (void)c.decode(msg.data(), msg.size(), BufferView{d.data(), n});
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) {
      num += double(d[i] - x[i]) * (d[i] - x[i]);
      den += double(x[i]) * x[i];
      sumNo[i] += d[i];
      sumIn[i] += x[i];
    }
    a.stepErr += std::sqrt(num / den) / steps;
    (void)c.encodeWithErrorFeedback(xv, r.data(), msg.data(), msg.size());
    (void)c.decode(msg.data(), msg.size(), BufferView{d.data(), n});
    for (size_t i = 0; i < n; ++i) sumEf[i] += d[i];
  }
  a.sumNoEf = relL2(sumNo, sumIn);
  a.sumEf = relL2(sumEf, sumIn);
  return a;
}

}  // namespace
}  // namespace isthmus::kernels

int main(int argc, char** argv) {
  using namespace isthmus::kernels;
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : (1u << 20);
  const int steps = argc > 2 ? std::atoi(argv[2]) : 100;
  std::printf("Accuracy over %d steps of %zu fresh elements (relative L2 errors)\n", steps, n);
  std::printf("%-20s %-9s %10s %10s %10s %7s\n", "codec", "data", "step_err", "sum_noEF", "sum_EF",
              "B/elem");
  const char* codecs[] = {
      "fp32", "fp16", "bf16", "int8", "int4", "fp8", "topk:fraction=0.01", "topk:fraction=0.1"};
  for (const char* codec : codecs) {
    for (bool heavy : {false, true}) {
      Acc a = measure(codec, heavy, n, steps);
      std::printf("%-20s %-9s %10.3e %10.3e %10.3e %7.3f\n", codec,
                  heavy ? "student-t" : "gaussian", a.stepErr, a.sumNoEf, a.sumEf, a.bytesPerElem);
    }
  }
  std::printf("\nBlock-size sweep (one step each, %zu elements)\n", n);
  std::printf("%-16s %12s %12s %7s\n", "codec", "gauss_err", "studentt_err", "B/elem");
  for (const char* base : {"int8", "int4", "fp8"}) {
    for (int block : {32, 64, 128, 256, 512, 1024, 4096}) {
      std::string name = std::string(base) + ":block=" + std::to_string(block);
      Acc g = measure(name, false, n, 1), t = measure(name, true, n, 1);
      std::printf("%-16s %12.3e %12.3e %7.4f\n", name.c_str(), g.stepErr, t.stepErr,
                  g.bytesPerElem);
    }
  }
  return 0;
}
