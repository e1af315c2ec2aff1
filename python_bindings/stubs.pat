# nanobind_add_stub patterns for isthmus._C. Exceptions that also derive from a builtin of the
# same name must spell the builtin's module, or the stub reads as a class deriving from itself.
isthmus\._C\.TimeoutError$:
    \import builtins
    class TimeoutError(Error, builtins.TimeoutError):
        \doc
