#!/bin/bash
# Builds the libFuzzer binary for the codec decoders with clang-14, whatever compiler the main
# build uses: kernels/fuzz/build_libfuzzer.sh [out=build-fuzz/isthmus_kernels_fuzz]
# Run it:   build-fuzz/isthmus_kernels_fuzz -max_total_time=600 corpus/
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/build-fuzz/isthmus_kernels_fuzz}"
mkdir -p "$(dirname "$out")/gen/isthmus"
printf '#pragma once\n#define ISTHMUS_HAVE_CUDA 0\n#define ISTHMUS_HAVE_NCCL 0\n' \
  > "$(dirname "$out")/gen/isthmus/config.h"
CXX="${CXX_FUZZ:-clang++-14}"
srcs=("$root"/kernels/fuzz/codec_fuzz.cc "$root"/kernels/cpu/{message,codec,dispatch,cast_codecs,block_codecs,topk,reduce}.cc
      "$root"/runtime/core/{status,dtype,buffer,logging}.cc)
"$CXX" -std=c++17 -g -O1 -ffp-contract=off -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -I"$root" -I"$(dirname "$out")/gen" "${srcs[@]}" -o "$out"
echo "built $out"
