// Replay driver for codec_fuzz.cc without libFuzzer: runs each file given on the command line,
// or (no arguments) a generated seed set: a valid message of every codec and dtype, each of its
// truncations and many single-byte mutations, and encode seeds with NaN/Inf/denormals.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "kernels/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using namespace isthmus;
using namespace isthmus::kernels;

size_t runSeeds(const char* writeDir) {
  size_t runs = 0;
  std::mt19937 rng(7);
  auto run = [&](const std::vector<uint8_t>& in) {
    LLVMFuzzerTestOneInput(in.data(), in.size());
    if (writeDir && runs % 97 == 0) {
      std::ofstream(std::string(writeDir) + "/seed-" + std::to_string(runs), std::ios::binary)
          .write(reinterpret_cast<const char*>(in.data()), static_cast<std::streamsize>(in.size()));
    }
    ++runs;
  };
  const char* specs[] = {
      "fp32", "fp16", "bf16", "int8:block=8", "int4:block=8", "fp8:block=16", "topk:fraction=0.2",
      "int8", "int4"};
  for (const char* spec : specs) {
    Codec c = Codec::create(spec).value();
    for (size_t n : {size_t{0}, size_t{1}, size_t{5}, size_t{33}}) {
      std::vector<float> x(n);
      for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(i) - 2.5f;
      if (n > 4) x[3] = NAN;
      std::vector<uint8_t> msg(c.maxEncodedBytes(n, DType::kFloat32));
      (void)c.encode(ConstBufferView(x.data(), n, DType::kFloat32), msg.data(), msg.size());
      for (uint8_t sel = 0; sel < 3; ++sel) {
        std::vector<uint8_t> in{sel};
        in.insert(in.end(), msg.begin(), msg.end());
        run(in);
        for (size_t cut = 1; cut < in.size(); ++cut)
          run(std::vector<uint8_t>(in.begin(), in.begin() + cut));
        for (int m = 0; m < 200; ++m) {
          auto mut = in;
          mut[1 + rng() % (mut.size() - 1)] ^= static_cast<uint8_t>(1u << (rng() % 8));
          run(mut);
        }
      }
    }
  }
  for (int s = 0; s < 27; ++s) {
    std::vector<uint8_t> in{static_cast<uint8_t>(0x80 | s)};
    float vals[] = {1.0f, NAN, INFINITY, -INFINITY, 1e-42f, -0.0f, 3e38f, 0.0f};
    for (float v : vals) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
      in.insert(in.end(), p, p + 4);
    }
    run(in);
  }
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--write-seeds" && argc > 2) {
    std::printf("%zu seeds run, some written to %s\n", runSeeds(argv[2]), argv[2]);
    return 0;
  }
  if (argc == 1) {
    std::printf("codec_fuzz replay: %zu generated inputs, no invariant broken\n",
                runSeeds(nullptr));
    return 0;
  }
  for (int i = 1; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
  std::printf("codec_fuzz replay: %d files, no invariant broken\n", argc - 1);
  return 0;
}
