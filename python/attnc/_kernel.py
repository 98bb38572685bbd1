"""A compiled variant as a Python callable."""

import ctypes
import itertools
import sys
import weakref
from collections import namedtuple

from . import _dlpack
from . import _lib
from ._lib import lib


class Error(Exception):
    """Base of attnc's errors."""


class CompileError(Error):
    """The compiler refused the source or the options; the message holds its
    diagnostics (file:line:column, the source line and a caret)."""


class KernelError(Error, ValueError):
    """The kernel refused its arguments (nothing was written), or a GPU
    kernel failed."""


Param = namedtuple("Param", "name kind dtype dims default")
Param.__doc__ = """A variant's param: kind "tensor" or "scalar", dtype "f32"...,
dims ("H", "?", ...) of a tensor, default of a scalar (None: required)."""

# Names the call itself takes; a param with one of them goes in params=.
_CALL_KEYWORDS = {"out", "lse", "return_lse", "threads", "stream",
                  "synchronize", "deterministic", "params", "dout",
                  "page_table", "seq_lens"}
_FLOATS = ("f32", "f16", "bf16")

_RUN_ARGS_SIZE = ctypes.sizeof(_lib.RunArgs)
_run = lib.attnc_kernel_run
_byref = ctypes.byref

# Every live kernel by its key: attnc.torch names a kernel in its custom op's
# arguments by this string (an op takes no Python objects).
_by_key = weakref.WeakValueDictionary()
_serial = itertools.count()


def kernel_by_key(key):
    """The live Kernel whose `key` is `key`, or None."""
    return _by_key.get(key)


class Kernel:
    """A compiled variant: kernel(q, k, v, *, out=None, return_lse=False,
    threads=0, **params) runs it and returns out (and lse on request).

    GPU kernels run on `stream` (default: torch's current stream of q's
    device) and, unless synchronize=False, wait for the kernel, so that its
    faults (a param read out of bounds) are reported by this call.

    A kernel compiled with paged_kv=True takes k and v as a paged KV cache,
    pages [num_pages, page_size, Hkv, D] (v: Dv), and each call passes
    page_table= (int32 [B, max_pages]: key j of sequence b is row
    j % page_size of page page_table[b, j // page_size]) and seq_lens=
    (int32 [B]: keys j >= seq_lens[b] are not kept)."""

    # Set by the compiler that made it (a kernel made otherwise is not).
    paged_kv = False

    def __init__(self, handle):
        self._handle = ctypes.c_void_p(handle)
        self._destroy = lib.attnc_kernel_destroy
        h = self._handle
        self.name = lib.attnc_kernel_name(h).decode()
        self.target = lib.attnc_kernel_target(h).decode()
        self.dtype = _dlpack.DTYPES[lib.attnc_kernel_dtype(h)]
        self.returns_lse = bool(lib.attnc_kernel_returns_lse(h))
        self.params = tuple(self._read_params())
        self._by_name = {p.name: p for p in self.params}
        # Whether a call must name params (a tensor, or a scalar without a
        # default); when it need not and names none, the call passes this
        # empty list, made once.
        self._required = any(p.kind == "tensor" or p.default is None
                             for p in self.params)
        self._no_params = (_lib.ParamArg * 1)()
        self._device = _dlpack.KDL_CPU if self.target == "cpu" else \
            _dlpack.KDL_CUDA
        self.key = f"attnc.Kernel#{next(_serial)}:{self.name}"
        _by_key[self.key] = self

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle:
            self._destroy(handle)
            self._handle = None

    def __repr__(self):
        params = ", ".join(p.name for p in self.params)
        return f"<attnc.Kernel {self.name}({params}) {self.target} {self.dtype}>"

    def _read_params(self):
        info = _lib.ParamInfo()
        for i in range(lib.attnc_kernel_num_params(self._handle)):
            if lib.attnc_kernel_param(self._handle, i, ctypes.byref(info)):
                raise Error(_lib.last_error())
            dims = tuple(info.dims[d].decode() for d in range(info.rank))
            yield Param(info.name.decode(),
                        "tensor" if info.is_tensor else "scalar",
                        _dlpack.DTYPES[info.dtype],
                        dims if info.is_tensor else (),
                        info.default_value if info.has_default else None)

    def __call__(self, q, k, v, *, out=None, lse=None, return_lse=False,
                 threads=0, stream=None, synchronize=True, params=None,
                 page_table=None, seq_lens=None, **kwparams):
        if params:
            kwparams = {**params, **kwparams}
        table_address = lens_address = None
        if self.paged_kv or page_table is not None or seq_lens is not None:
            vq, vk, vv, vtable, vlens, (B, H, N, Dv) = self._check_paged(
                q, k, v, page_table, seq_lens)
            table_address, lens_address = vtable.pointer, vlens.pointer
        else:
            vq, vk, vv, (B, H, N, Dv) = self._check_inputs(q, k, v)
        if (return_lse or lse is not None) and not self.returns_lse:
            raise ValueError(f"'{self.name}' does not define lse (its "
                             "normalizer is not softmax)")
        if out is None:
            out = _empty_like(q, (B, H, N, Dv), None)
        vout = self._check("out", out, 4, output=True)
        if vout.shape != (B, H, N, Dv):
            _expect_shape(vout, (B, H, N, Dv), "[B, H, N, Dv]")
        lse_address = None
        if return_lse and lse is None:
            lse = _empty_like(q, (B, H, N), "float32")
        if lse is not None:
            vlse = self._check("lse", lse, 3, output=True, dtype="f32")
            _expect_shape(vlse, (B, H, N), "[B, H, N]")
            lse_address = vlse.pointer
        if kwparams or self._required:
            param_args, keep = self._param_args(kwparams)
            count = len(keep)
        else:
            param_args, count = self._no_params, 0
        stream_address = None
        if self._device == _dlpack.KDL_CUDA:
            stream_address = _cuda_stream(q, vq, stream)
        # One constructor call: the fields in the header's order.
        args = _lib.RunArgs(_RUN_ARGS_SIZE, vq.pointer, vk.pointer,
                            vv.pointer, vout.pointer, lse_address, param_args,
                            count, threads, stream_address,
                            1 if synchronize else 0, table_address,
                            lens_address)
        if _run(self._handle, _byref(args)):
            raise KernelError(_lib.last_error())
        return (out, lse) if return_lse else out

    @property
    def has_backward(self):
        """Whether the kernel was compiled with backward=True."""
        return bool(lib.attnc_kernel_has_backward(self._handle))

    def backward(self, q, k, v, out, dout, lse=None, *, threads=0,
                 stream=None, synchronize=True, deterministic=False,
                 params=None, **kwparams):
        """The gradients of a loss L given dout = dL/dout: (dq, dk, dv,
        {param: grad}) for the forward's q, k, v, out (and lse, required for
        softmax variants) and the same params. dq, dk, dv are shaped as q, k,
        v in the kernel's dtype (dk and dv summed over the query heads of a
        kv head); every float param has a float32 gradient of its shape (a
        scalar's is 0-d). Outputs are made with the library of the input
        they belong to. Needs a kernel compiled with backward=True; on the
        GPU it runs on `stream` as run() does. deterministic=True gives the
        same bits on every call (dq's parts added in a fixed order) and
        returns no param gradients."""
        if not self.has_backward:
            raise KernelError(f"'{self.name}' was compiled without its "
                              "backward; compile it with backward=True")
        if params:
            kwparams = {**params, **kwparams}
        vq, vk, vv, (B, H, N, Dv) = self._check_inputs(q, k, v)
        vout = self._check("out", out, 4)
        _expect_shape(vout, (B, H, N, Dv), "[B, H, N, Dv]")
        vdout = self._check("dout", dout, 4)
        _expect_shape(vdout, (B, H, N, Dv), "[B, H, N, Dv]")
        vlse = None
        if self.returns_lse:
            if lse is None:
                raise ValueError(f"the backward of '{self.name}' needs the "
                                 "forward's lse (run it with "
                                 "return_lse=True)")
            vlse = self._check("lse", lse, 3, dtype="f32")
            _expect_shape(vlse, (B, H, N), "[B, H, N]")
        elif lse is not None:
            raise ValueError(f"'{self.name}' does not define lse (its "
                             "normalizer is not softmax); pass no lse")
        param_args, keep = self._param_args(kwparams)

        grads = [_empty_like(x, view.shape, None)
                 for x, view in ((q, vq), (k, vk), (v, vv))]
        vgrads = [self._check(name, g, 4, output=True)
                  for name, g in zip(("dq", "dk", "dv"), grads)]
        # Every float param's gradient, a scalar left to its default too.
        param_grads, entries, alive, views = {}, [], [], iter(keep)
        for p in self.params:
            view = next(views) if p.name in kwparams else None
            if p.dtype not in _FLOATS or deterministic:
                continue
            shape = view.shape if p.kind == "tensor" else (1,)
            grad = _empty_like(q, shape, "float32")
            vgrad = _dlpack.view(f"the gradient of param '{p.name}'", grad,
                                 output=True)
            param_grads[p.name] = grad
            entries.append(_lib.ParamGrad(p.name.encode(), vgrad.pointer))
            alive.append(vgrad)

        args = _lib.BackwardArgs()
        args.struct_size = ctypes.sizeof(_lib.BackwardArgs)
        args.q, args.k, args.v = vq.pointer, vk.pointer, vv.pointer
        args.out, args.dout = vout.pointer, vdout.pointer
        args.dq, args.dk, args.dv = (g.pointer for g in vgrads)
        if vlse is not None:
            args.lse = vlse.pointer
        args.params = param_args
        args.num_params = len(keep)
        args.param_grads = (_lib.ParamGrad * max(len(entries), 1))(*entries)
        args.num_param_grads = len(entries)
        args.threads = threads
        if self._device == _dlpack.KDL_CUDA:
            args.stream = _cuda_stream(q, vq, stream)
        args.synchronize = 1 if synchronize else 0
        args.deterministic = 1 if deterministic else 0
        if lib.attnc_kernel_backward(self._handle, ctypes.byref(args)):
            raise KernelError(_lib.last_error())
        for p in self.params:
            if p.kind == "scalar" and p.name in param_grads:
                param_grads[p.name] = param_grads[p.name].reshape(())
        return grads[0], grads[1], grads[2], param_grads

    def _check_inputs(self, q, k, v):
        """The views of q, k, v, checked against each other, and the shape
        of out."""
        vq, vk, vv = (self._check("q", q, 4), self._check("k", k, 4),
                      self._check("v", v, 4))
        B, H, N, D = vq.shape
        Hkv, M = vk.shape[1], vk.shape[2]
        Dv = vv.shape[3]
        _expect_shape(vk, (B, Hkv, M, D), "[B, Hkv, M, D]")
        _expect_shape(vv, (B, Hkv, M, Dv), "[B, Hkv, M, Dv]")
        if H % Hkv:
            raise ValueError(f"query heads H = {H} (q) are not a multiple of "
                             f"key/value heads Hkv = {Hkv} (k, v)")
        return vq, vk, vv, (B, H, N, Dv)

    def _check_paged(self, q, k, v, page_table, seq_lens):
        """_check_inputs for a paged call: the views of q, k and v (pages),
        of the page table and lengths, and the shape of out."""
        if not self.paged_kv:
            raise ValueError(f"'{self.name}' takes contiguous k and v; "
                             "compile it with paged_kv=True to pass "
                             "page_table= and seq_lens=")
        if page_table is None or seq_lens is None:
            missing = " and ".join(n for n, x in (("page_table", page_table),
                                                  ("seq_lens", seq_lens))
                                   if x is None)
            raise ValueError(f"'{self.name}' was compiled with paged_kv=True:"
                             f" pass {missing} (int32 [B, max_pages] and "
                             "[B]) with k and v as pages [num_pages, "
                             "page_size, Hkv, D]")
        vq, vk, vv = (self._check("q", q, 4), self._check("k", k, 4),
                      self._check("v", v, 4))
        vtable = self._check("page_table", page_table, 2, dtype="i32")
        vlens = self._check("seq_lens", seq_lens, 1, dtype="i32")
        B, H, N, D = vq.shape
        pages, page_size, Hkv = vk.shape[0], vk.shape[1], vk.shape[2]
        Dv = vv.shape[3]
        _expect_shape(vk, (pages, page_size, Hkv, D),
                      "[num_pages, page_size, Hkv, D]")
        _expect_shape(vv, (pages, page_size, Hkv, Dv),
                      "[num_pages, page_size, Hkv, Dv]")
        _expect_shape(vtable, (B, vtable.shape[1]), "[B, max_pages]")
        _expect_shape(vlens, (B,), "[B]")
        if H % Hkv:
            raise ValueError(f"query heads H = {H} (q) are not a multiple of "
                             f"key/value heads Hkv = {Hkv} (k, v)")
        return vq, vk, vv, vtable, vlens, (B, H, N, Dv)

    def _check(self, name, array, rank, output=False, dtype=None):
        view = _dlpack.view(name, array, output)
        if view.device_type != self._device:
            where = "the CPU" if self.target == "cpu" else f"a GPU ({self.target})"
            raise ValueError(f"{name} is on {view.device}; '{self.name}' was "
                             f"compiled for {where}")
        expected = dtype or self.dtype
        if view.dtype != expected:
            why = "" if dtype else " (the kernel's dtype)"
            raise TypeError(f"{name} must be {expected}{why}; got "
                            f"{view.describe_dtype()}")
        if view.ndim != rank:
            raise ValueError(f"{name} must have rank {rank}; got shape "
                             f"{list(view.shape)}")
        return view

    def _param_args(self, given):
        for name in given:
            if name not in self._by_name:
                takes = ", ".join(self._by_name) or "none"
                raise TypeError(f"'{self.name}' got an unknown param "
                                f"'{name}'; it takes {takes}")
        values = []
        keep = []
        for p in self.params:
            if p.name not in given:
                if p.kind == "tensor" or p.default is None:
                    raise TypeError(f"'{self.name}' is missing param "
                                    f"'{p.name}' ({_describe(p)})")
                continue
            value = given[p.name]
            arg = _lib.ParamArg(name=p.name.encode())
            what = f"param '{p.name}'"
            if p.kind == "tensor":
                if isinstance(value, (int, float)):
                    raise TypeError(f"{what} is a tensor {_describe(p)}; got "
                                    f"a {type(value).__name__}")
                view = self._check(what, value, len(p.dims), dtype=p.dtype)
                arg.tensor = view.pointer
                keep.append(view)
            else:
                arg.is_int, arg.value, arg.int_value = _scalar(what, p, value)
                keep.append(None)
            values.append(arg)
        array = (_lib.ParamArg * max(len(values), 1))(*values)
        return array, keep


def _describe(param):
    if param.kind == "tensor":
        return f"{param.dtype}[{', '.join(param.dims)}]"
    return param.dtype


def _scalar(what, param, value):
    """(is_int, value, int_value) of a scalar param."""
    if hasattr(value, "__dlpack__") or hasattr(value, "__array_interface__"):
        if getattr(value, "ndim", 1) != 0:
            raise TypeError(f"{what} is a scalar {param.dtype}; got a "
                            f"{type(value).__name__}")
        value = value.item()
    if isinstance(value, bool):
        return 1, 0.0, int(value)
    if isinstance(value, int):
        return 1, 0.0, value
    if isinstance(value, float):
        if param.dtype in ("i32", "i64") and not value.is_integer():
            raise TypeError(f"{what} is an integer ({param.dtype}); got "
                            f"{value}")
        return 0, value, 0
    raise TypeError(f"{what} is a scalar {param.dtype}; got "
                    f"{type(value).__name__}")


def _expect_shape(view, expected, layout):
    if view.shape != expected:
        raise ValueError(f"{view.name} must have shape {layout} = "
                         f"{list(expected)}; got {list(view.shape)}")


def _empty_like(like, shape, dtype):
    """A new array of `shape` from `like`'s library and device (and dtype,
    unless `dtype` names one)."""
    if hasattr(like, "new_empty"):  # torch
        if dtype is None:
            return like.new_empty(shape)
        torch = sys.modules["torch"]
        return like.new_empty(shape, dtype=getattr(torch, dtype))
    module = sys.modules.get(type(like).__module__.split(".")[0])
    empty = getattr(module, "empty", None)
    if empty is None:
        raise TypeError(f"cannot make an output like a "
                        f"{type(like).__name__}; pass out= (and lse=)")
    return empty(shape, dtype=like.dtype if dtype is None
                 else getattr(module, dtype))


def _cuda_stream(like, view, stream):
    """The stream a GPU kernel runs on: the caller's, else torch's current
    stream of `like`'s device (`view` is its view), else the default
    stream."""
    if stream is not None:
        return getattr(stream, "cuda_stream", stream)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(like, torch.Tensor) and like.is_cuda:
        # The cudaStream_t itself (torch >= 1.11 built with CUDA):
        # torch.cuda.current_stream() builds a Stream object, microseconds,
        # to read the same number from.
        raw = getattr(torch._C, "_cuda_getCurrentRawStream", None)
        if raw is not None:
            return raw(view.device_id)
        return torch.cuda.current_stream(like.device).cuda_stream
    return None
