"""attnc for PyTorch: attention() shaped like flex_attention, as a custom op.

    import attnc.torch
    out = attnc.torch.attention(q, k, v, "examples/alibi_causal.attn",
                                slopes=slopes)

`attention(q, k, v, variant, *, scale=None, enable_gqa=False,
return_lse=False, **params)` takes q [B, H, N, D], k [B, Hkv, M, D] and
v [B, Hkv, M, Dv] (torch tensors on the CPU or a CUDA GPU, float32, float16 or
bfloat16), compiles `variant` once for their dtype, device and head dims, and
runs it; CUDA tensors run on torch's current stream, without waiting.

With torch 2.4 or later the call is the custom op `torch.ops.attnc.attention`
(with a fake implementation and an autograd formula), so `torch.compile`
traces it into its graph without a break and CUDA graphs capture it. Older
torch (Debian's 1.13) has no custom ops: there `attention` calls a
`torch.autograd.Function` directly, which works eagerly but not inside a
compiled graph.

Variants are compiled with their backward (on the GPU for head dims 64
and 128): gradients flow to q, k, v and to float tensor params (a scalar
param passed as a tensor too; a Python number gets none).

This module imports torch; `import attnc` does not (attnc.torch is loaded on
first use).
"""

import math
import re
import threading
from typing import List, Optional, Tuple

import torch

from . import _compiler
from ._kernel import CompileError, Kernel, kernel_by_key

__all__ = ["attention", "kernel_for", "CUSTOM_OP"]

_DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}
_KERNEL_KEY = "attnc.Kernel#"


def attention(q, k, v, variant, *, scale=None, enable_gqa=False,
              return_lse=False, **params):
    """Attention of `variant` on q [B, H, N, D], k [B, Hkv, M, D], v [B, Hkv,
    M, Dv]; returns out [B, H, N, Dv] in q's dtype, and lse [B, H, N] float32
    when `return_lse` (softmax variants only).

    variant: attnc source text, the path of a .attn file (read once per
      process), or an attnc.Kernel (which must match q's dtype and device).
      Source and files are compiled once per (variant, scale, dtype, device
      target, head dims) and cached in this module and on disk.
    scale: the score's scale, as flex_attention's (None: the variant's, by
      default 1/sqrt(D)). The scale is a constant of a variant, so a scale
      compiles the variant with `scale = c`; a variant that sets its own
      scale, or an attnc.Kernel, refuses one (ValueError).
    enable_gqa: allow H != Hkv (H a multiple of Hkv), as flex_attention.
    params: the variant's params by name: tensors on q's device, or numbers.

    Raises TypeError or ValueError naming the tensor for a bad call,
    attnc.CompileError for a variant that does not compile, and
    NotImplementedError from a backward through a CUDA call (the GPU
    backward is not available yet)."""
    _check_inputs(q, k, v, enable_gqa)
    if isinstance(variant, Kernel):
        if scale is not None:
            raise ValueError(
                "scale= cannot change the scale of a compiled attnc.Kernel "
                f"('{variant.name}'): the scale is a constant of the variant; "
                "pass its source or file instead, or write `scale = c` in it")
        name = variant.key
    elif isinstance(variant, str):
        name = variant
    elif hasattr(variant, "__fspath__"):
        name = str(variant)
    else:
        raise TypeError("variant must be attnc source text, a file path or "
                        f"an attnc.Kernel; got {type(variant).__name__}")
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) \
                or not (0 < scale < math.inf):
            raise ValueError(f"scale must be a positive finite number or "
                             f"None; got {scale!r}")
        scale = float(scale)
    tensor_names, tensors, scalar_names, scalars = _split_params(params)
    args = (name, q, k, v, tensor_names, tensors, scalar_names, scalars,
            scale, bool(return_lse))
    if _direct(q, k, v, tensors):
        return _forward(*args)
    if CUSTOM_OP is not None:
        out, lse = CUSTOM_OP(*args)
    else:
        out, lse = _Attention.apply(name, q, k, v, tensor_names, scalar_names,
                                    scalars, scale, bool(return_lse), *tensors)
    return (out, lse) if return_lse else out


def kernel_for(variant, dtype=torch.float32, device="cpu", head_dim=None,
               value_head_dim=None, scale=None):
    """The attnc.Kernel that attention() runs for these inputs (compiled on
    first use): its params, name and target. head_dim is needed for GPUs."""
    device = torch.device(device)
    name = variant.key if isinstance(variant, Kernel) else str(variant)
    return _kernel(name, dtype, device, head_dim, value_head_dim or head_dim,
                   scale)


def _check_inputs(q, k, v, enable_gqa):
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got "
                            f"{type(x).__name__}")
        if x.dim() != 4:
            layout = {"q": "[B, H, N, D]", "k": "[B, Hkv, M, D]",
                      "v": "[B, Hkv, M, Dv]"}[name]
            raise ValueError(f"{name} must have rank 4 ({layout}); got shape "
                             f"{list(x.shape)}")
    if q.dtype not in _DTYPES:
        raise TypeError(f"q must be float32, float16 or bfloat16; got "
                        f"{q.dtype}")
    for name, x in (("k", k), ("v", v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{name} must be {q.dtype} like q; got {x.dtype}")
        if x.device != q.device:
            raise ValueError(f"{name} is on {x.device}; q is on {q.device}")
    if q.device.type not in ("cpu", "cuda"):
        raise ValueError(f"q is on {q.device}; attnc runs on the CPU and on "
                         "CUDA GPUs")
    H, Hkv = q.shape[1], k.shape[1]
    if not enable_gqa and H != Hkv:
        raise ValueError(f"q has H = {H} heads and k, v have Hkv = {Hkv}; "
                         "pass enable_gqa=True for grouped-query attention")
    if H % Hkv:
        raise ValueError(f"q's heads H = {H} are not a multiple of k's and "
                         f"v's Hkv = {Hkv}")


def _split_params(params):
    """(tensor names, tensors, scalar names, scalars): the op's arguments.
    Names travel comma-joined (params are identifiers), scalars as floats
    (integer params are converted back; exact up to 2**53)."""
    tensor_names, tensors, scalar_names, scalars = [], [], [], []
    for name, value in params.items():
        if isinstance(value, torch.Tensor):
            tensor_names.append(name)
            tensors.append(value)
        elif isinstance(value, (bool, int, float)):
            scalar_names.append(name)
            scalars.append(float(value))
        else:
            raise TypeError(f"param '{name}' must be a torch.Tensor or a "
                            f"number; got {type(value).__name__}")
    return ",".join(tensor_names), tensors, ",".join(scalar_names), scalars


def _never():
    return False


# True while dynamo traces (torch 2.3: torch.compiler; 2.0: torch._dynamo).
_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling",
                        None) or getattr(getattr(torch, "_dynamo", None),
                                         "is_compiling", _never)


def _no_modes():
    """True when no torch function or dispatch mode (make_fx, FakeTensorMode)
    would have to see the call as an op."""
    function_mode = getattr(torch._C, "_is_torch_function_mode_enabled", None)
    if function_mode is not None and function_mode():
        return False
    dispatch_modes = getattr(torch._C, "_len_torch_dispatch_stack", None)
    return dispatch_modes is None or dispatch_modes() == 0


def _direct(q, k, v, tensors):
    """Whether the call may skip the op's dispatch (tens of microseconds):
    eagerly, on plain tensors, with no gradient to record. A traced call
    always goes through the op."""
    if _is_compiling():
        return False
    plain = all(type(x) is torch.Tensor for x in (q, k, v, *tensors))
    if not plain or not _no_modes():
        return False
    return not (torch.is_grad_enabled()
                and any(x.requires_grad for x in (q, k, v, *tensors)))


# Compiled kernels by (variant, scale, dtype, target[, D, Dv]), for source
# text and files; an attnc.Kernel is found by its key.
_kernels = {}
_lock = threading.Lock()
_targets = {}


def _target(device):
    if device.type == "cpu":
        return "cpu"
    index = device.index if device.index is not None else \
        torch.cuda.current_device()
    target = _targets.get(index)
    if target is None:
        major, minor = torch.cuda.get_device_capability(index)
        # Hopper's wgmma and setmaxnreg need the arch-specific sm_90a.
        target = f"sm_{major}{minor}" + ("a" if (major, minor) == (9, 0)
                                         else "")
        _targets[index] = target
    return target


def _kernel(name, dtype, device, head_dim, value_head_dim, scale):
    if name.startswith(_KERNEL_KEY):
        kernel = kernel_by_key(name)
        if kernel is None:
            raise ValueError(f"{name} no longer exists (the attnc.Kernel was "
                             "released)")
        return kernel
    target = _target(device)
    # CPU kernels take any head dim; GPU kernels are compiled for one.
    key = (name, scale, dtype, target) if target == "cpu" else \
        (name, scale, dtype, target, head_dim, value_head_dim)
    kernel = _kernels.get(key)
    if kernel is None:
        with _lock:
            kernel = _kernels.get(key)
            if kernel is None:
                kernel = _compile(name, dtype, target, head_dim,
                                  value_head_dim, scale)
                _kernels[key] = kernel
    return kernel


def _compile(name, dtype, target, head_dim, value_head_dim, scale):
    if "{" in name:
        source, file_name = name, "<source>"
    else:
        with open(name, encoding="utf-8") as f:
            source, file_name = f.read(), name
    if scale is not None:
        source = _with_scale(source, scale)
    # Kernels carry their backward, for autograd: the GPU's where it takes
    # the head dims (64 and 128).
    options = {"target": target, "dtype": _DTYPES[dtype],
               "backward": target == "cpu" or
               (head_dim in (64, 128) and value_head_dim in (64, 128))}
    if target != "cpu":
        options["head_dim"] = head_dim
        if value_head_dim != head_dim:
            options["value_head_dim"] = value_head_dim
    try:
        try:
            return _compiler._default_compiler().compile(
                source, None, file_name=file_name, **options)
        except CompileError as e:
            # Block selections and branches have no backward yet: the
            # forward still runs, and a backward through it says it was
            # compiled without one.
            if not (options["backward"] and
                    "compile it without the backward" in str(e)):
                raise
            options["backward"] = False
            return _compiler._default_compiler().compile(
                source, None, file_name=file_name, **options)
    except CompileError as e:
        if scale is not None and "'scale' is already set" in str(e):
            raise ValueError(
                f"scale={scale!r}: the variant sets its own scale (`scale = "
                "c` in its body); leave scale=None or remove that "
                "statement") from e
        raise


# An attention definition's opening brace, outside comments.
_BODY = re.compile(r"//[^\n]*|/\*.*?\*/|\battention\b[^{]*\{", re.S)


def _with_scale(source, scale):
    """`source` with `scale = c;` first in each attention body, on the line
    of the brace (so diagnostics keep their line numbers)."""
    statement = f" scale = {scale!r};"
    parts, end = [], 0
    for match in _BODY.finditer(source):
        if match.group().startswith("/"):
            continue
        parts += [source[end:match.end()], statement]
        end = match.end()
    return "".join(parts) + source[end:]


def _params(kernel, tensor_names, tensors, scalar_names, scalars):
    if not (tensor_names or scalar_names):
        return None
    params = dict(zip(tensor_names.split(",") if tensor_names else (),
                      (_plain(t) for t in tensors)))
    kinds = kernel._by_name
    for name, value in zip(scalar_names.split(",") if scalar_names else (),
                           scalars):
        # Integer params were carried as floats; bool params too.
        param = kinds.get(name)
        if param is not None and param.dtype in ("i32", "i64", "bool") and \
                value.is_integer():
            value = int(value)
        params[name] = value
    return params


def _plain(x):
    # DLPack refuses tensors that require grad; the kernel only reads them.
    return x.detach() if x.requires_grad else x


# The current CUDA device's index (torch.cuda.current_device() less its
# lazy-init check: a CUDA tensor exists, so CUDA is initialized).
_current_device = getattr(torch._C, "_cuda_getDevice", None) or \
    torch.cuda.current_device


def _forward(name, q, k, v, tensor_names, tensors, scalar_names, scalars,
             scale, return_lse):
    """out, or (out, lse) when return_lse."""
    kernel = _kernel(name, q.dtype, q.device, q.shape[3], v.shape[3], scale)
    params = _params(kernel, tensor_names, tensors, scalar_names, scalars)
    q, k, v = _plain(q), _plain(k), _plain(v)
    device = None
    if q.is_cuda and q.get_device() != _current_device():
        # The C API runs on the current CUDA context: make it q's device's.
        device = torch.cuda.device(q.device)
        device.__enter__()
    try:
        result = kernel(q, k, v, return_lse=return_lse, synchronize=False,
                        params=params)
    finally:
        if device is not None:
            device.__exit__(None, None, None)
    return result


def _forward_pair(name, q, k, v, tensor_names, tensors, scalar_names, scalars,
                  scale, return_lse):
    """(out, lse): what the op and the Function return. lse is computed for
    every softmax variant, asked for or not, since the backward needs it;
    for other normalizers it is zeros (an op returns a fixed number of
    tensors, of shapes its fake knows without the kernel)."""
    kernel = _kernel(name, q.dtype, q.device, q.shape[3], v.shape[3], scale)
    want_lse = return_lse or kernel.returns_lse
    result = _forward(name, q, k, v, tensor_names, tensors, scalar_names,
                      scalars, scale, want_lse)
    if want_lse:
        return result
    return result, result.new_zeros(q.shape[:3], dtype=torch.float32)


def _is_float(x):
    return x.is_floating_point()


def _backward(name, grad_out, grad_lse, q, k, v, out, lse, tensor_names,
              tensors, scalar_names, scalars, scale):
    """(dq, dk, dv, the gradients of the float tensors among `tensors` in
    their order), from Kernel.backward; this is the only place that calls
    it."""
    if grad_lse is not None and bool(grad_lse.ne(0).any()):
        raise NotImplementedError(
            "attnc: the gradient through lse is not available yet (the "
            "backward takes dL/dout only); use the lse that return_lse=True "
            "returns without differentiating it, e.g. lse.detach()")
    kernel = _kernel(name, q.dtype, q.device, q.shape[3], v.shape[3], scale)
    if not kernel.has_backward:
        raise ValueError(
            f"the attnc.Kernel '{kernel.name}' was compiled without its "
            "backward; compile it with attnc.compile(..., backward=True) "
            "for autograd")
    params = _params(kernel, tensor_names, tensors, scalar_names, scalars)
    q, k, v, out, grad_out = map(_plain, (q, k, v, out, grad_out))
    dq, dk, dv, grads = kernel.backward(
        q, k, v, out, grad_out, lse.detach() if kernel.returns_lse else None,
        params=params)
    names = tensor_names.split(",") if tensor_names else []
    tensor_grads = [grads[n].reshape(t.shape).to(t.dtype)
                    for n, t in zip(names, tensors) if _is_float(t)]
    return dq, dk, dv, tensor_grads


def _param_grads(tensors, tensor_grads):
    """One gradient per tensor param: the float ones' in order, else None."""
    grads = iter(tensor_grads)
    return [next(grads) if _is_float(t) else None for t in tensors]


class _Attention(torch.autograd.Function):
    """attention() for torch without custom ops (before 2.4); the tensor
    params come last, as positional arguments, so autograd sees them."""

    @staticmethod
    def forward(ctx, name, q, k, v, tensor_names, scalar_names, scalars, scale,
                return_lse, *tensors):
        out, lse = _forward_pair(name, q, k, v, tensor_names, list(tensors),
                                 scalar_names, scalars, scale, return_lse)
        ctx.save_for_backward(q, k, v, out, lse, *tensors)
        ctx.args = (name, tensor_names, scalar_names, scalars, scale)
        ctx.kernel = kernel_by_key(name)  # an attnc.Kernel lives until then
        return out, lse

    @staticmethod
    def backward(ctx, grad_out, grad_lse):
        name, tensor_names, scalar_names, scalars, scale = ctx.args
        q, k, v, out, lse, *tensors = ctx.saved_tensors
        dq, dk, dv, tensor_grads = _backward(
            name, grad_out, grad_lse, q, k, v, out, lse, tensor_names,
            tensors, scalar_names, scalars, scale)
        return (None, dq, dk, dv, None, None, None, None, None,
                *_param_grads(tensors, tensor_grads))


def _define_ops():
    """torch.ops.attnc.attention and .attention_backward (torch >= 2.4), or
    None. The backward is an op of its own, so that a compiled training graph
    traces it (through its fake)."""
    library = torch.library
    if not (hasattr(library, "custom_op") and hasattr(library,
                                                      "register_autograd")):
        return None
    Tensor = torch.Tensor

    @library.custom_op("attnc::attention", mutates_args=())
    def attention_op(variant: str, q: Tensor, k: Tensor, v: Tensor,
                     tensor_names: str, tensors: List[Tensor],
                     scalar_names: str, scalars: List[float],
                     scale: Optional[float],
                     return_lse: bool) -> Tuple[Tensor, Tensor]:
        return _forward_pair(variant, q, k, v, tensor_names, tensors,
                             scalar_names, scalars, scale, return_lse)

    @attention_op.register_fake
    def _(variant, q, k, v, tensor_names, tensors, scalar_names, scalars,
          scale, return_lse):
        B, H, N = q.shape[0], q.shape[1], q.shape[2]
        out = q.new_empty((B, H, N, v.shape[3]))
        return out, q.new_empty((B, H, N), dtype=torch.float32)

    @library.custom_op("attnc::attention_backward", mutates_args=())
    def backward_op(variant: str, grad_out: Tensor, grad_lse: Optional[Tensor],
                    q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor,
                    tensor_names: str, tensors: List[Tensor],
                    scalar_names: str, scalars: List[float],
                    scale: Optional[float]
                    ) -> Tuple[Tensor, Tensor, Tensor, List[Tensor]]:
        return _backward(variant, grad_out, grad_lse, q, k, v, out, lse,
                         tensor_names, tensors, scalar_names, scalars, scale)

    @backward_op.register_fake
    def _(variant, grad_out, grad_lse, q, k, v, out, lse, tensor_names,
          tensors, *rest):
        return (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v),
                [torch.empty_like(t) for t in tensors if _is_float(t)])

    def setup_context(ctx, inputs, output):
        (variant, q, k, v, tensor_names, tensors, scalar_names, scalars,
         scale, _) = inputs
        ctx.save_for_backward(q, k, v, *output, *tensors)
        ctx.args = (variant, tensor_names, scalar_names, scalars, scale)
        ctx.kernel = kernel_by_key(variant)  # an attnc.Kernel lives until then

    def backward(ctx, grad_out, grad_lse):
        variant, tensor_names, scalar_names, scalars, scale = ctx.args
        q, k, v, out, lse, *tensors = ctx.saved_tensors
        dq, dk, dv, tensor_grads = backward_op(
            variant, grad_out, grad_lse, q, k, v, out, lse, tensor_names,
            tensors, scalar_names, scalars, scale)
        # One gradient per input, lists shaped as their inputs (an empty
        # list of floats is a list, a non-empty one a leaf).
        return (None, dq, dk, dv, None, _param_grads(tensors, tensor_grads),
                None, None if scalars else [], None, None)

    attention_op.register_autograd(backward, setup_context=setup_context)
    return torch.ops.attnc.attention.default


# torch.ops.attnc.attention.default, or None where torch has no custom ops.
CUSTOM_OP = _define_ops()
