// DLPack tensors (numpy arrays, torch CPU/CUDA tensors, anything with __dlpack__) as the buffer
// views the C++ collectives take. Nothing is copied: a view points at the caller's memory, so the
// caller (the Work wrapper) keeps the Python object alive until the collective completes.
//
// Accepted: C-contiguous tensors (any shape, 0-size included) of fp32, fp16, bf16, int8, uint8 or
// int32 in CPU, CUDA-pinned-host or CUDA memory. Anything else (non-contiguous strides, float64,
// other devices) raises isthmus.InvalidArgumentError naming what was wrong. The Python layer
// (isthmus/__init__.py) turns a non-contiguous tensor into a contiguous copy, with a warning,
// before it reaches here.
#pragma once

#include <nanobind/ndarray.h>

#include <string>

#include "runtime/core/buffer.h"

namespace isthmus::py {

// `what` names the argument in error messages ("tensor", "output").
BufferView toBufferView(const nanobind::ndarray<>& array, const char* what);

// "float32[4, 3] (cpu)" for messages.
std::string describeArray(const nanobind::ndarray<>& array);

}  // namespace isthmus::py
