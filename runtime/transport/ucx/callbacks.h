// Static trampolines from UCX's C callbacks into UcxTransportImpl (internal).
#pragma once

#include <ucp/api/ucp.h>

#include "runtime/core/status.h"

namespace isthmus {
namespace ucximpl {

class UcxTransportImpl;
struct SendChunk;
struct RecvChunk;

struct Callbacks {
  // Registers the AM handlers of `impl`'s worker.
  static Status install(UcxTransportImpl* impl);

  static void connRequest(ucp_conn_request_h request, void* arg);
  static void epError(void* arg, ucp_ep_h ep, ucs_status_t status);
  static ucs_status_t amHandshake(void* arg, const void* header, size_t headerLength, void* data,
                                  size_t length, const ucp_am_recv_param_t* param);
  static ucs_status_t amData(void* arg, const void* header, size_t headerLength, void* data,
                             size_t length, const ucp_am_recv_param_t* param);
  static ucs_status_t amPing(void* arg, const void* header, size_t headerLength, void* data,
                             size_t length, const ucp_am_recv_param_t* param);
  static void sendChunkDone(void* request, ucs_status_t status, void* userData);
  static void recvChunkDone(void* request, ucs_status_t status, size_t length, void* userData);
  static void controlDone(void* request, ucs_status_t status, void* userData);
};

}  // namespace ucximpl
}  // namespace isthmus
