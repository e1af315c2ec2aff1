#include "python_bindings/src/errors.h"

#include <Python.h>

namespace nb = nanobind;

namespace isthmus::py {
namespace {

// Owned by the module (attributes of it); these are borrowed, valid while the module lives.
PyObject* gError = nullptr;
PyObject* gTimeout = nullptr;
PyObject* gPeerLost = nullptr;
PyObject* gCorrupt = nullptr;
PyObject* gInvalidArgument = nullptr;
PyObject* gAborted = nullptr;

PyObject* makeClass(nb::module_& m, const char* name, PyObject* base, PyObject* builtin,
                    const char* doc) {
  std::string qualified = std::string("isthmus._C.") + name;
  PyObject* bases = builtin ? PyTuple_Pack(2, base, builtin) : PyTuple_Pack(1, base);
  PyObject* cls = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  Py_DECREF(bases);
  if (cls == nullptr) throw nb::python_error();
  m.attr(name) = nb::steal(cls);
  return cls;
}

PyObject* classFor(StatusCode code) {
  switch (code) {
    case StatusCode::kTimeout: return gTimeout;
    case StatusCode::kPeerLost: return gPeerLost;
    case StatusCode::kCorrupt: return gCorrupt;
    case StatusCode::kInvalidArgument: return gInvalidArgument;
    case StatusCode::kAborted: return gAborted;
    default: return gError;
  }
}

}  // namespace

void registerErrors(nb::module_& m) {
  gError = makeClass(m, "Error", PyExc_RuntimeError, nullptr,
                     "Base class of every error Isthmus raises; str() is the C++ message.");
  gTimeout = makeClass(m, "TimeoutError", gError, PyExc_TimeoutError,
                       "A deadline passed (the collective may still complete).");
  gPeerLost = makeClass(m, "PeerLostError", gError, PyExc_ConnectionError,
                        "A remote rank or service died or went silent.");
  gCorrupt = makeClass(m, "CorruptError", gError, nullptr,
                       "Bytes that did not check out (CRC, header, malformed message).");
  gInvalidArgument = makeClass(m, "InvalidArgumentError", gError, PyExc_ValueError,
                               "The call was wrong: dtype, size, option or state.");
  gAborted = makeClass(m, "AbortedError", gError, nullptr,
                       "The communicator was aborted; later collectives fail at once.");

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const StatusError& e) {
      PyObject* cls = classFor(e.status().code());
      PyObject* msg = PyUnicode_FromString(e.what());
      if (msg == nullptr) return;  // a Python error is already set
      PyObject* exc = PyObject_CallOneArg(cls, msg);
      Py_DECREF(msg);
      if (exc == nullptr) return;
      PyObject* codeName = PyUnicode_FromString(statusCodeName(e.status().code()));
      if (codeName != nullptr) {
        PyObject_SetAttrString(exc, "code", codeName);
        Py_DECREF(codeName);
      }
      PyErr_SetObject(cls, exc);
      Py_DECREF(exc);
    }
  });
}

}  // namespace isthmus::py
