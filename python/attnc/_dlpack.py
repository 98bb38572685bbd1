"""DLPack views of the caller's arrays, without copying them."""

import ctypes
import sys


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


KDL_CPU, KDL_CUDA = 1, 2
_DEVICES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan",
            8: "metal", 10: "rocm", 13: "cuda_managed"}

# attnc_dtype values (attnc_c.h) and the DLPack (code, bits) of each; torch
# 1.x exports bool as uint8 (code 1), DLPack 0.8 as code 6.
DTYPES = ("bool", "i32", "i64", "f16", "bf16", "f32")
_FROM_DLPACK = {(1, 8): "bool", (6, 8): "bool", (0, 32): "i32", (0, 64): "i64",
                (2, 16): "f16", (4, 16): "bf16", (2, 32): "f32"}
_DLPACK_NAMES = {0: "int", 1: "uint", 2: "float", 4: "bfloat", 5: "complex",
                 6: "bool"}

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class View:
    """One array's DLTensor and what keeps its memory and shape alive; what
    every check reads is kept as plain Python values (reading a ctypes
    struct's field builds an object each time)."""

    __slots__ = ("name", "tensor", "pointer", "shape", "ndim", "dtype",
                 "device_type", "device_id", "_keep")

    def __init__(self, name, tensor, keep, shape=None, dtype=False,
                 device=None):
        self.name = name
        self.tensor = tensor
        # The address, which the run arguments' pointer fields take.
        self.pointer = ctypes.addressof(tensor)
        # Read once (a slice of the ctypes pointer is one call, not one per
        # dimension), unless the caller knows it.
        self.shape = tuple(tensor.shape[:tensor.ndim]) if shape is None \
            else shape
        self.ndim = len(self.shape)
        if dtype is False:
            d = tensor.dtype
            dtype = _FROM_DLPACK.get((d.code, d.bits)) if d.lanes == 1 \
                else None
        # The attnc name of the dtype, or None when attnc has none.
        self.dtype = dtype
        if device is None:
            d = tensor.device
            device = (d.device_type, d.device_id)
        self.device_type, self.device_id = device
        self._keep = keep

    def describe_dtype(self):
        d = self.tensor.dtype
        name = f"{_DLPACK_NAMES.get(d.code, f'code{d.code}_')}{d.bits}"
        return name if d.lanes == 1 else f"{name}x{d.lanes}"

    @property
    def device(self):
        kind = _DEVICES.get(self.device_type,
                            f"device type {self.device_type}")
        return kind if self.device_type == KDL_CPU else \
            f"{kind}:{self.device_id}"


def view(name, array, output=False):
    """The DLPack view of `array`, which stays valid while the View lives.
    `output`: the kernel writes it, so it must be writable."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(array, torch.Tensor):
        if type(array) is torch.Tensor:
            fast = _torch_view(name, array, torch)
            if fast is not None:
                return fast
        if array.dtype == torch.bool:
            # torch 1.x cannot export bool; its uint8 view is the same
            # bytes.
            array = array.view(torch.uint8)
    export = getattr(array, "__dlpack__", None)
    if export is not None:
        try:
            capsule = export()
        except Exception as e:
            # numpy refuses read-only and bool arrays; its array interface
            # takes them.
            if not hasattr(array, "__array_interface__"):
                raise TypeError(f"{name} cannot be passed through DLPack: "
                                f"{e}") from e
            capsule = None
        if capsule is not None:
            address = _get_pointer(capsule, b"dltensor")
            return View(name, DLTensor.from_address(address), capsule)
    interface = getattr(array, "__array_interface__", None)
    if interface is not None:
        if output and interface["data"][1]:
            raise ValueError(f"{name} is read-only; the kernel writes it")
        return _from_array_interface(name, array, interface)
    raise TypeError(
        f"{name} must be an array that speaks DLPack (numpy, torch, ...); "
        f"got {type(array).__name__}")


# torch dtype -> ((DLPack code, bits), attnc name), built on first use; bool
# goes as uint8 bytes, as torch 1.x exports it.
_torch_dtypes = None
# (shape, strides, dtype, device) -> (the DLTensor of that layout with no
# data, what it points to: shape and strides arrays, read-only to the
# library): a call copies it and sets its data. Cleared when it grows large.
_layouts = {}
_LAYOUTS_MAX = 1024
_from_copy = DLTensor.from_buffer_copy


def _torch_view(name, t, torch):
    """The DLTensor of a plain torch tensor on the CPU or a CUDA GPU, built
    from its pointer, sizes, strides and dtype (no capsule: torch's
    `__dlpack__` is Python code that costs microseconds a tensor), or None
    for anything else (which then takes the DLPack path and its errors)."""
    global _torch_dtypes
    if _torch_dtypes is None:
        _torch_dtypes = {
            torch.float32: ((2, 32), "f32"), torch.float16: ((2, 16), "f16"),
            torch.bfloat16: ((4, 16), "bf16"), torch.int32: ((0, 32), "i32"),
            torch.int64: ((0, 64), "i64"), torch.bool: ((1, 8), "bool")}
    dtype = t.dtype
    entry = _torch_dtypes.get(dtype)
    if entry is None or t.layout is not torch.strided or t.is_neg() or \
            t.is_conj():
        return None
    if t.is_cuda:
        where = (KDL_CUDA, t.get_device())
    elif t.is_cpu:
        where = (KDL_CPU, 0)
    else:
        return None
    if t.requires_grad:
        # As torch's __dlpack__ refuses it: the kernel would bypass autograd.
        raise TypeError(f"{name} cannot be passed through DLPack: it "
                        f"requires grad (pass {name}.detach())")
    shape = tuple(t.shape)
    key = (shape, t.stride(), dtype, where)
    layout = _layouts.get(key)
    if layout is None:
        layout = _layout(shape, key[1], entry[0], where)
        if len(_layouts) >= _LAYOUTS_MAX:
            _layouts.clear()
        _layouts[key] = layout
    tensor = _from_copy(layout[0])
    tensor.data = t.data_ptr()
    return View(name, tensor, (t, layout), shape, entry[1], where)


def _layout(shape, strides, code_bits, where):
    ndim = len(shape)
    shape_array = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides_array = (ctypes.c_int64 * max(ndim, 1))(*strides)
    template = DLTensor(None, DLDevice(*where), ndim,
                        DLDataType(code_bits[0], code_bits[1], 1),
                        shape_array, strides_array, 0)
    return template, shape_array, strides_array


# Array-interface typestr (kind, bytes) to DLPack (code, bits).
_TYPESTR = {("f", 4): (2, 32), ("f", 2): (2, 16), ("f", 8): (2, 64),
            ("i", 4): (0, 32), ("i", 8): (0, 64), ("b", 1): (1, 8),
            ("u", 1): (1, 8)}


def _from_array_interface(name, array, interface):
    typestr = interface["typestr"]
    kind, size = typestr[1], int(typestr[2:])
    if typestr[0] == ">" and size > 1:
        raise TypeError(f"{name} is big-endian ({typestr}); attnc takes "
                        "native little-endian arrays")
    code_bits = _TYPESTR.get((kind, size))
    if code_bits is None:
        raise TypeError(f"{name} has dtype {typestr}, which attnc does not "
                        "take (f32, f16, i32, i64, bool)")
    shape = interface["shape"]
    ndim = len(shape)
    shape_array = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides_array = None
    if interface.get("strides") is not None:
        byte_strides = interface["strides"]
        if any(s % size for s in byte_strides):
            raise ValueError(f"{name} has strides {byte_strides} bytes, not "
                             f"a multiple of its {size}-byte elements")
        strides_array = (ctypes.c_int64 * ndim)(*(s // size
                                                  for s in byte_strides))
    tensor = DLTensor()
    tensor.data = interface["data"][0]
    tensor.device = DLDevice(KDL_CPU, 0)
    tensor.ndim = ndim
    tensor.dtype = DLDataType(code_bits[0], code_bits[1], 1)
    tensor.shape = ctypes.cast(shape_array, ctypes.POINTER(ctypes.c_int64))
    if strides_array is not None:
        tensor.strides = ctypes.cast(strides_array,
                                     ctypes.POINTER(ctypes.c_int64))
    return View(name, tensor, (array, shape_array, strides_array),
                tuple(shape), device=(KDL_CPU, 0))
