"""Compiling variants: attnc.Compiler and the module's default one."""

import ctypes
import os
import threading

from . import _dlpack
from . import _lib
from ._kernel import CompileError, Error, Kernel
from ._lib import lib


def version():
    """The version of the libattnc loaded."""
    return lib.attnc_version().decode()


class Compiler:
    """The compiler's state and its caches (in memory, and on disk under
    `cache_dir`: None takes $ATTNC_CACHE_DIR or ~/.cache/attnc, "" turns the
    disk cache off). Thread-safe; attnc.compile uses one shared instance."""

    def __init__(self, cache_dir=None):
        handle = ctypes.c_void_p()
        path = None if cache_dir is None else os.fsencode(cache_dir)
        if lib.attnc_compiler_create(path, ctypes.byref(handle)):
            raise Error(_lib.last_error())
        self._handle = handle
        self._destroy = lib.attnc_compiler_destroy

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            self._destroy(handle)
            self._handle = None

    def compile(self, source, variant=None, **options):
        """Compiles `variant` of `source` (the only one when None); see
        attnc.compile for the options."""
        if not isinstance(source, str):
            raise TypeError(f"source must be a str; got "
                            f"{type(source).__name__}")
        text = source.encode()
        file_name = options.pop("file_name", "<source>")
        kernel = self._kernel(lib.attnc_compile, text, len(text),
                              _encode(variant), _options(**options),
                              os.fsencode(file_name))
        kernel.paged_kv = bool(options.get("paged_kv"))
        return kernel

    def compile_file(self, path, variant=None, **options):
        """Compiles `variant` of the file at `path`."""
        kernel = self._kernel(lib.attnc_compile_file, os.fsencode(path),
                              _encode(variant), _options(**options))
        kernel.paged_kv = bool(options.get("paged_kv"))
        return kernel

    def _kernel(self, entry, *args):
        handle = ctypes.c_void_p()
        status = entry(self._handle, *args, ctypes.byref(handle))
        if status == _lib.ERROR_COMPILE:
            raise CompileError(_lib.last_error())
        if status == _lib.ERROR_ARGUMENT:
            raise ValueError(_lib.last_error())
        if status:
            raise Error(_lib.last_error())
        kernel = Kernel(handle.value)
        kernel._compiler = self  # released after its kernels
        return kernel


def _encode(text):
    return None if text is None else text.encode()


def _dtype_name(dtype):
    """"f32" from "f32", "float32", numpy.float32 or torch.float32."""
    if isinstance(dtype, str):
        name = dtype
    elif hasattr(dtype, "__name__"):
        name = dtype.__name__
    else:
        name = str(dtype).rsplit(".", 1)[-1]
    aliases = {"float32": "f32", "float16": "f16", "half": "f16",
               "bfloat16": "bf16", "float": "f32"}
    name = aliases.get(name, name)
    if name not in ("f32", "f16", "bf16"):
        raise ValueError(f"dtype must be f32, f16 or bf16; got {dtype!r}")
    return name


def _options(target="cpu", dtype=None, head_dim=None, value_head_dim=None,
             family=None, tile_q=0, tile_kv=0, vector_width=0, warps=0,
             stages=0, splits=0, backward=False, paged_kv=False):
    options = _lib.CompileOptions()
    lib.attnc_compile_options_init_size(ctypes.byref(options),
                                        ctypes.sizeof(options))
    options.target = target.encode()
    if dtype is not None:
        options.dtype = _dlpack.DTYPES.index(_dtype_name(dtype))
    options.head_dim = head_dim or 0
    options.value_head_dim = value_head_dim or 0
    options.kernel_family = _encode(family)
    for name, value in (("tile_q", tile_q), ("tile_kv", tile_kv),
                        ("vector_width", vector_width), ("warps", warps),
                        ("stages", stages), ("splits", splits)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int; got "
                             f"{value!r}")
        setattr(options, name, value)
    if not isinstance(backward, bool):
        raise TypeError(f"backward must be a bool; got {backward!r}")
    options.backward = backward
    if not isinstance(paged_kv, bool):
        raise TypeError(f"paged_kv must be a bool; got {paged_kv!r}")
    options.paged_kv = paged_kv
    return ctypes.byref(options)


_default = None
_default_lock = threading.Lock()


def _default_compiler():
    global _default
    with _default_lock:
        if _default is None:
            _default = Compiler()
        return _default


def compile(source, variant=None, *, target="cpu", dtype=None, head_dim=None,
            value_head_dim=None, family=None, tile_q=0, tile_kv=0,
            vector_width=0, warps=0, stages=0, splits=0, backward=False,
            paged_kv=False, compiler=None):
    """Compiles `variant` of the attnc source text `source` (the only one
    when None) into a callable Kernel.

    target: "cpu" or a GPU ("sm_80", "sm_90a"); dtype: of q, k, v and out
    ("f32" default, "bf16", "f16"; numpy/torch dtypes too); head_dim,
    value_head_dim: fix D and Dv (GPUs need D); family, tile_q, tile_kv,
    vector_width, warps, stages, splits: force the schedule (0 or None: the
    target's choice); backward: also compile the backward (Kernel.backward;
    GPUs take head dims 64 and 128); paged_kv: take k and v
    as a paged KV cache (pages [num_pages, page_size, Hkv, D], each call
    passing page_table= and seq_lens=; see Kernel). Raises CompileError with
    the compiler's diagnostics."""
    return (compiler or _default_compiler()).compile(
        source, variant, target=target, dtype=dtype, head_dim=head_dim,
        value_head_dim=value_head_dim, family=family, tile_q=tile_q,
        tile_kv=tile_kv, vector_width=vector_width, warps=warps,
        stages=stages, splits=splits, backward=backward, paged_kv=paged_kv)


def compile_file(path, variant=None, *, compiler=None, **options):
    """attnc.compile on the file at `path` (diagnostics name it)."""
    return (compiler or _default_compiler()).compile_file(path, variant,
                                                          **options)
