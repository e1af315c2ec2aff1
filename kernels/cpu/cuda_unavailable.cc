// kernels/cuda_codecs.h and kernels/cuda_staging.h in a build without CUDA: every entry point
// says so (kNotSupported), so a caller can choose the CPU path. Compiled only when
// ISTHMUS_ENABLE_CUDA is OFF.
#include "kernels/cuda_codecs.h"
#include "kernels/cuda_staging.h"

namespace isthmus::kernels::cuda {
namespace {
Status unavailable(const char* what) {
  return notSupportedError("kernels::cuda::", what, ": this build of Isthmus has no CUDA");
}
}  // namespace

bool available() { return false; }
Result<size_t> encode(const CodecSpec&, ConstBufferView, void*, size_t, StreamHandle) {
  return unavailable("encode");
}
Result<size_t> encodeWithErrorFeedback(const CodecSpec&, ConstBufferView, float*, void*, size_t,
                                       StreamHandle) {
  return unavailable("encodeWithErrorFeedback");
}
Status decode(const MessageInfo&, const void*, size_t, BufferView, uint32_t*, StreamHandle) {
  return unavailable("decode");
}
Status decodeAccumulate(const MessageInfo&, const void*, size_t, float*, size_t, uint32_t*,
                        StreamHandle) {
  return unavailable("decodeAccumulate");
}
Status sumInto(void*, const void*, size_t, DType, StreamHandle) { return unavailable("sumInto"); }
Status convert(const void*, DType, void*, DType, size_t, StreamHandle) {
  return unavailable("convert");
}
Status scale(void*, size_t, DType, float, StreamHandle) { return unavailable("scale"); }

Result<void*> allocPinned(size_t) { return unavailable("allocPinned"); }
void freePinned(void*) {}
Status copyToHost(void*, const void*, size_t, int, StreamHandle) {
  return unavailable("copyToHost");
}
Status copyToDevice(void*, const void*, size_t, int, StreamHandle) {
  return unavailable("copyToDevice");
}

}  // namespace isthmus::kernels::cuda
