"""Bad calls raise the exception that names what is wrong, write nothing,
and leave the kernel usable."""

import ctypes

import numpy as np
import pytest

import attnc

ALIBI = """attention alibi_causal(slopes: f32[H], scale: f32 = 1.0) {
  score = score * scale + slopes[h] * (kv_idx - q_idx)
  mask  = causal()
}"""


@pytest.fixture(scope="module")
def kernel():
    return attnc.compile(ALIBI)


@pytest.fixture
def inputs():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((1, 2, 24, 16), dtype=np.float32)
               for _ in range(3))
    return q, k, v, np.array([0.5, 0.25], np.float32)


def sentinel(shape):
    return np.full(shape, 7.0, np.float32)


def test_params_are_described(kernel):
    assert kernel.name == "alibi_causal" and kernel.target == "cpu"
    assert kernel.dtype == "f32" and kernel.returns_lse
    assert kernel.params == (
        attnc.Param("slopes", "tensor", "f32", ("H",), None),
        attnc.Param("scale", "scalar", "f32", (), 1.0))


@pytest.mark.parametrize("case, error, words", [
    ("q_rank", ValueError, "q must have rank 4"),
    ("q_dtype", TypeError, "q must be f32"),
    ("k_head_dim", ValueError, "k must have shape [B, Hkv, M, D]"),
    ("v_batch", ValueError, "v must have shape [B, Hkv, M, Dv]"),
    ("heads", ValueError, "not a multiple of key/value heads"),
    ("not_an_array", TypeError, "k must be an array that speaks DLPack"),
    ("missing_param", TypeError, "missing param 'slopes'"),
    ("unknown_param", TypeError, "unknown param 'slope'"),
    ("param_shape", attnc.KernelError, "param 'slopes' has shape [3]"),
    ("param_dtype", TypeError, "param 'slopes' must be f32"),
    ("param_kind", TypeError, "param 'slopes' is a tensor"),
    ("scalar_kind", TypeError, "param 'scale' is a scalar"),
    ("lse_shape", ValueError, "lse must have shape [B, H, N]"),
])
def test_bad_call(kernel, inputs, case, error, words):
    q, k, v, slopes = inputs
    out = sentinel(q.shape)
    args = dict(q=q, k=k, v=v, out=out, slopes=slopes)
    if case == "q_rank":
        args["q"] = q[0]
    elif case == "q_dtype":
        args["q"] = q.astype(np.float64)
    elif case == "k_head_dim":
        args["k"] = k[..., :8]
    elif case == "v_batch":
        args["v"] = np.concatenate([v, v])
    elif case == "heads":
        args["q"] = np.concatenate([q, q[:, :1]], axis=1)
        args["out"] = sentinel((1, 3, 24, 16))
    elif case == "not_an_array":
        args["k"] = k.tolist()
    elif case == "missing_param":
        del args["slopes"]
    elif case == "unknown_param":
        args["slope"] = args.pop("slopes")
    elif case == "param_shape":
        args["slopes"] = np.ones(3, np.float32)
    elif case == "param_dtype":
        args["slopes"] = slopes.astype(np.int64)
    elif case == "param_kind":
        args["slopes"] = 0.5
    elif case == "scalar_kind":
        args["scale"] = slopes
    elif case == "lse_shape":
        args["lse"] = np.zeros((1, 2, 23), np.float32)
    before = args["out"].copy()
    with pytest.raises(error) as raised:
        kernel(args.pop("q"), args.pop("k"), args.pop("v"), **args)
    assert words in str(raised.value)
    np.testing.assert_array_equal(args["out"], before)
    # The kernel still runs after the refusal.
    assert np.isfinite(kernel(q, k, v, slopes=slopes)).all()


def test_out_checks(kernel, inputs):
    q, k, v, slopes = inputs
    with pytest.raises(ValueError, match=r"out must have shape \[B, H, N, Dv\]"):
        kernel(q, k, v, out=sentinel((1, 2, 24, 8)), slopes=slopes)
    with pytest.raises(TypeError, match="out must be f32"):
        kernel(q, k, v, out=np.zeros(q.shape, np.float64), slopes=slopes)
    frozen = sentinel(q.shape)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        kernel(q, k, v, out=frozen, slopes=slopes)
    assert (frozen == 7.0).all()


def test_no_lse_without_softmax(inputs):
    q, k, v, _ = inputs
    sigmoid = attnc.compile("attention s() { normalize = sigmoid(score) }")
    assert not sigmoid.returns_lse
    with pytest.raises(ValueError, match="does not define lse"):
        sigmoid(q, k, v, return_lse=True)


class FakeCudaArray:
    """A host array that exports itself through DLPack as CUDA memory."""

    class Managed(ctypes.Structure):
        from attnc._dlpack import DLTensor
        _fields_ = [("tensor", DLTensor), ("context", ctypes.c_void_p),
                    ("deleter", ctypes.c_void_p)]

    def __init__(self, array):
        from attnc._dlpack import view
        self.array = array
        self.managed = self.Managed()
        self.managed.tensor = view("fake", array).tensor
        self.managed.tensor.device.device_type = 2

    def __dlpack__(self, stream=None):
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        return new(ctypes.addressof(self.managed), b"dltensor", None)


def test_device(kernel, inputs):
    q, k, v, slopes = inputs
    with pytest.raises(ValueError, match="q is on cuda:0; 'alibi_causal' was "
                       "compiled for the CPU"):
        kernel(FakeCudaArray(q), k, v, slopes=slopes)


def test_torch_errors(kernel):
    torch = pytest.importorskip("torch")
    q = torch.randn(1, 2, 24, 16)
    slopes = torch.tensor([0.5, 0.25])
    with pytest.raises(TypeError, match="q must be f32 .*; got bfloat16"):
        kernel(q.bfloat16(), q, q, slopes=slopes)
    with pytest.raises(TypeError, match="q cannot be passed through DLPack"):
        kernel(q.requires_grad_(), q, q, slopes=slopes)
    out = kernel(q.detach(), q.detach(), q.detach(), slopes=slopes)
    assert out.shape == q.shape and out.dtype == torch.float32


def test_compile_error():
    with pytest.raises(attnc.CompileError) as raised:
        attnc.compile("attention broken() {\n  mask = causl()\n}")
    message = str(raised.value)
    assert "<source>:2:" in message and "causl" in message and "^" in message


def test_compile_file_errors(tmp_path):
    with pytest.raises(attnc.Error, match="cannot read"):
        attnc.compile_file(tmp_path / "missing.attn")
    bad = tmp_path / "bad.attn"
    bad.write_text("attention x() { score = score + nope }\n")
    with pytest.raises(attnc.CompileError, match="bad.attn:1:"):
        attnc.compile_file(bad)


def test_bad_options():
    with pytest.raises(ValueError, match="dtype must be"):
        attnc.compile("attention d() {}", dtype="f64")
    with pytest.raises(attnc.CompileError):
        attnc.compile("attention d() {}", target="sm_1")
    with pytest.raises(attnc.CompileError):
        attnc.compile("attention d() {}", "no_such_variant")


def test_gpu_kernel_refuses_host_arrays():
    """Without a GPU a GPU kernel may still compile (NVRTC); it must refuse
    host arrays, and a build without CUDA must say why it cannot compile."""
    q = np.ones((1, 1, 4, 64), np.float32)
    k = v = q
    with pytest.raises(attnc.CompileError):
        attnc.compile("attention d() {}", target="sm_80", head_dim=16)
    try:
        kernel = attnc.compile("attention d() {}", target="sm_80",
                               dtype="bf16", head_dim=64)
    except attnc.CompileError as e:
        pytest.skip(f"no GPU backend in this build: {e}")
    assert kernel.target == "sm_80"
    with pytest.raises(ValueError, match="q is on cpu; 'd' was compiled for "
                       "a GPU"):
        kernel(q, k, v)


def test_compiler_cache_dir(tmp_path):
    compiler = attnc.Compiler(cache_dir=str(tmp_path))
    kernel = compiler.compile("attention cached() { mask = causal() }")
    assert kernel.name == "cached"
    assert any(tmp_path.iterdir()), "the disk cache stays empty"
    assert attnc.version()


def test_torch_view_matches_dlpack():
    """The DLTensor built from a torch tensor's pointer, sizes and strides
    (no capsule) is the one torch's DLPack export describes."""
    torch = pytest.importorskip("torch")
    from attnc import _dlpack
    base = torch.arange(2 * 3 * 5 * 4, dtype=torch.float32).reshape(2, 3, 5, 4)
    cases = [base, base.transpose(1, 2), base[:, 1:, 2:], base.bfloat16(),
             base.half()[..., ::2], base.int(), base.long(), base > 3]
    for t in cases:
        fast = _dlpack.view("t", t)
        capsule = torch.utils.dlpack.to_dlpack(
            t.view(torch.uint8) if t.dtype == torch.bool else t)
        slow = _dlpack.View("t", _dlpack.DLTensor.from_address(
            _dlpack._get_pointer(capsule, b"dltensor")), capsule)
        a, b = fast.tensor, slow.tensor
        assert a.data + a.byte_offset == b.data + b.byte_offset
        assert fast.shape == slow.shape and fast.dtype == slow.dtype
        assert (a.dtype.code, a.dtype.bits, a.dtype.lanes) == \
            (b.dtype.code, b.dtype.bits, b.dtype.lanes)
        assert (fast.device_type, fast.device_id) == (1, 0) == \
            (slow.device_type, slow.device_id)
        assert list(a.strides[:a.ndim]) == list(t.stride())
