"""Finding libattnc.so.0 and declaring its C API (include/attnc/attnc_c.h)."""

import ctypes
import os
import sys
from pathlib import Path


SONAME = "libattnc.so.0"
C_API_VERSION = 0

OK, ERROR_COMPILE, ERROR_ARGUMENT, ERROR_OTHER = 0, 1, 2, 3


class CompileOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("target", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("head_dim", ctypes.c_int64),
        ("value_head_dim", ctypes.c_int64),
        ("kernel_family", ctypes.c_char_p),
        ("tile_q", ctypes.c_int64),
        ("tile_kv", ctypes.c_int64),
        ("vector_width", ctypes.c_int64),
        ("warps", ctypes.c_int64),
        ("stages", ctypes.c_int64),
        ("splits", ctypes.c_int64),
        ("backward", ctypes.c_int),
        ("paged_kv", ctypes.c_int),
    ]


class ParamInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("is_tensor", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("dims", ctypes.POINTER(ctypes.c_char_p)),
        ("has_default", ctypes.c_int),
        ("default_value", ctypes.c_double),
    ]


class ParamArg(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("tensor", ctypes.c_void_p),
        ("value", ctypes.c_double),
        ("int_value", ctypes.c_int64),
        ("is_int", ctypes.c_int),
    ]


# The DLTensor pointers of the structs below are c_void_p: a View's address
# (ctypes.addressof, an int) goes in without building a pointer object.
class RunArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("q", ctypes.c_void_p),
        ("k", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("lse", ctypes.c_void_p),
        ("params", ctypes.POINTER(ParamArg)),
        ("num_params", ctypes.c_size_t),
        ("threads", ctypes.c_int),
        ("stream", ctypes.c_void_p),
        ("synchronize", ctypes.c_int),
        ("page_table", ctypes.c_void_p),
        ("seq_lens", ctypes.c_void_p),
    ]


class ParamGrad(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("grad", ctypes.c_void_p),
    ]


class BackwardArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("q", ctypes.c_void_p),
        ("k", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("dout", ctypes.c_void_p),
        ("dq", ctypes.c_void_p),
        ("dk", ctypes.c_void_p),
        ("dv", ctypes.c_void_p),
        ("lse", ctypes.c_void_p),
        ("params", ctypes.POINTER(ParamArg)),
        ("num_params", ctypes.c_size_t),
        ("param_grads", ctypes.POINTER(ParamGrad)),
        ("num_param_grads", ctypes.c_size_t),
        ("threads", ctypes.c_int),
        ("stream", ctypes.c_void_p),
        ("synchronize", ctypes.c_int),
        ("deterministic", ctypes.c_int),
    ]


def _candidates():
    """Where the library may be, most specific first."""
    env = os.environ.get("ATTNC_LIBRARY")
    if env:
        yield Path(env)
        return
    here = Path(__file__).resolve().parent
    yield here / SONAME
    # Installed: PREFIX/lib/python3/dist-packages/attnc beside PREFIX/lib.
    yield here.parents[2] / SONAME
    # A checkout's python/attnc beside its build folder.
    yield here.parent.parent / "build" / "lib" / SONAME
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix, "/usr/local"]):
        yield Path(prefix) / "lib" / SONAME


def _load():
    tried = []
    for path in _candidates():
        tried.append(str(path))
        if path.is_file():
            return ctypes.CDLL(str(path))
    # Last, the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache).
    try:
        return ctypes.CDLL(SONAME)
    except OSError:
        tried.append(SONAME + " (the dynamic loader)")
    raise ImportError(
        "attnc: cannot find " + SONAME + "; build attnc (ninja -C build) "
        "or set ATTNC_LIBRARY to its path. Looked in: " + ", ".join(tried))


def _declare(lib):
    c = ctypes
    sig = {
        "attnc_version": (c.c_char_p, []),
        "attnc_c_api_version": (c.c_int, []),
        "attnc_last_error": (c.c_char_p, []),
        "attnc_compiler_create": (c.c_int, [c.c_char_p, c.POINTER(c.c_void_p)]),
        "attnc_compiler_destroy": (None, [c.c_void_p]),
        "attnc_compile_options_init_size": (None, [c.POINTER(CompileOptions),
                                                    c.c_size_t]),
        "attnc_compile": (c.c_int, [c.c_void_p, c.c_char_p, c.c_size_t,
                                    c.c_char_p, c.POINTER(CompileOptions),
                                    c.c_char_p, c.POINTER(c.c_void_p)]),
        "attnc_compile_file": (c.c_int, [c.c_void_p, c.c_char_p, c.c_char_p,
                                         c.POINTER(CompileOptions),
                                         c.POINTER(c.c_void_p)]),
        "attnc_kernel_destroy": (None, [c.c_void_p]),
        "attnc_kernel_name": (c.c_char_p, [c.c_void_p]),
        "attnc_kernel_target": (c.c_char_p, [c.c_void_p]),
        "attnc_kernel_dtype": (c.c_int, [c.c_void_p]),
        "attnc_kernel_returns_lse": (c.c_int, [c.c_void_p]),
        "attnc_kernel_num_params": (c.c_size_t, [c.c_void_p]),
        "attnc_kernel_param": (c.c_int, [c.c_void_p, c.c_size_t,
                                         c.POINTER(ParamInfo)]),
        "attnc_run_args_init_size": (None, [c.POINTER(RunArgs), c.c_size_t]),
        "attnc_kernel_run": (c.c_int, [c.c_void_p, c.POINTER(RunArgs)]),
        "attnc_kernel_has_backward": (c.c_int, [c.c_void_p]),
        "attnc_kernel_backward": (c.c_int, [c.c_void_p,
                                            c.POINTER(BackwardArgs)]),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    found = lib.attnc_c_api_version()
    if found != C_API_VERSION:
        raise ImportError(
            f"attnc: {lib._name} has C API version {found}; this package "
            f"speaks version {C_API_VERSION}")
    return lib


lib = _declare(_load())


def last_error():
    return lib.attnc_last_error().decode("utf-8", "replace")
