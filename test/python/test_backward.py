"""The backward from Python: Kernel.backward on numpy arrays against
torch's autograd of a float64 implementation of the same variant
(conftest.torch_reference), and its refusals."""

import numpy as np
import pytest

import attnc
from conftest import F32_TOLERANCE, torch_reference

torch = pytest.importorskip("torch")

ALIBI = """attention alibi(slopes: f32[H]) {
  score = score + slopes[h] * (kv_idx - q_idx)
  mask = causal()
}"""


def numpy_inputs(H=2, Hkv=2, N=11, D=8, Dv=4):
    rng = np.random.default_rng(3)
    return tuple(rng.standard_normal(s, dtype=np.float32)
                 for s in ((1, H, N, D), (1, Hkv, N, D), (1, Hkv, N, Dv)))


def test_kernel_backward_numpy():
    """(dq, dk, dv, {param: grad}) as numpy arrays: every float param's
    gradient (a scalar's 0-d, one left to its default too), none for an
    integer param."""
    source = """attention a(slopes: f32[H], w: i64, cap: f32 = 2.0) {
      score = softcap(cap) + slopes[h] * (kv_idx - q_idx)
      mask = sliding_window(w)
    }"""
    kernel = attnc.compile(source, backward=True)
    assert kernel.has_backward and not attnc.compile(source).has_backward
    q, k, v = numpy_inputs(H=4, Hkv=2)
    slopes = np.array([0.5, 0.25, 0.125, 1.0], np.float32)
    out, lse = kernel(q, k, v, slopes=slopes, w=4, return_lse=True)
    dout = np.random.default_rng(4).standard_normal(out.shape,
                                                    dtype=np.float32)
    dq, dk, dv, grads = kernel.backward(q, k, v, out, dout, lse,
                                        slopes=slopes, w=4)
    for got, like in ((dq, q), (dk, k), (dv, v)):
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        assert got.shape == like.shape
    assert sorted(grads) == ["cap", "slopes"]
    assert grads["slopes"].shape == (4,) and grads["cap"].shape == ()

    leaves = [torch.from_numpy(x).double().requires_grad_()
              for x in (q, k, v, slopes)]
    cap = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    ref = torch_reference(
        *leaves[:3], lambda s, b, h, i, j: cap * torch.tanh(s / cap)
        + leaves[3].view(1, -1, 1, 1) * (j - i),
        lambda b, h, i, j: (j <= i) & (i - j < 4))
    (ref * torch.from_numpy(dout).double()).sum().backward()
    for name, got, leaf in (("dq", dq, leaves[0]), ("dk", dk, leaves[1]),
                            ("dv", dv, leaves[2]),
                            ("dslopes", grads["slopes"], leaves[3]),
                            ("dcap", grads["cap"], cap)):
        np.testing.assert_allclose(got, leaf.grad.numpy(), **F32_TOLERANCE,
                                   err_msg=name)


def test_kernel_backward_torch_tensors():
    """Outputs are made with the inputs' library: torch in, torch out."""
    kernel = attnc.compile("attention s() { normalize = sigmoid(score) }",
                           backward=True)
    q, k, v = (torch.from_numpy(x) for x in numpy_inputs())
    out = kernel(q, k, v)
    dq, dk, dv, grads = kernel.backward(q, k, v, out, torch.ones_like(out))
    assert all(isinstance(x, torch.Tensor) for x in (dq, dk, dv))
    assert grads == {}
    leaves = [x.double().requires_grad_() for x in (q, k, v)]
    torch_reference(*leaves, normalize="sigmoid").sum().backward()
    for got, leaf in zip((dq, dk, dv), leaves):
        np.testing.assert_allclose(got.numpy(), leaf.grad.numpy(),
                                   **F32_TOLERANCE)


@pytest.fixture(scope="module")
def alibi():
    kernel = attnc.compile(ALIBI, backward=True)
    q, k, v = numpy_inputs()
    slopes = np.array([0.5, 0.25], np.float32)
    out, lse = kernel(q, k, v, slopes=slopes, return_lse=True)
    return kernel, dict(q=q, k=k, v=v, out=out, dout=np.ones_like(out),
                        lse=lse, slopes=slopes)


@pytest.mark.parametrize("case, error, words", [
    ("no_lse", ValueError, "the backward of 'alibi' needs the forward's lse"),
    ("dout_shape", ValueError, "dout must have shape [B, H, N, Dv] = "
     "[1, 2, 11, 4]; got [1, 2, 11, 3]"),
    ("dout_dtype", TypeError, "dout must be f32 (the kernel's dtype); got "
     "float64"),
    ("out_shape", ValueError, "out must have shape [B, H, N, Dv]"),
    ("lse_shape", ValueError, "lse must have shape [B, H, N] = [1, 2, 11]"),
    ("lse_dtype", TypeError, "lse must be f32"),
    ("missing_param", TypeError, "'alibi' is missing param 'slopes'"),
    ("unknown_param", TypeError, "'alibi' got an unknown param 'bias'"),
    ("param_shape", attnc.KernelError, "slopes"),
    ("k_shape", ValueError, "k must have shape [B, Hkv, M, D]"),
])
def test_kernel_backward_refusals(alibi, case, error, words):
    kernel, args = alibi
    args = dict(args)
    if case == "no_lse":
        args["lse"] = None
    elif case == "dout_shape":
        args["dout"] = args["dout"][..., :3]
    elif case == "dout_dtype":
        args["dout"] = args["dout"].astype(np.float64)
    elif case == "out_shape":
        args["out"] = args["out"][:, :1]
    elif case == "lse_shape":
        args["lse"] = args["lse"][..., :5]
    elif case == "lse_dtype":
        args["lse"] = args["lse"].astype(np.float64)
    elif case == "missing_param":
        del args["slopes"]
    elif case == "unknown_param":
        args["bias"] = 1.0
    elif case == "param_shape":
        args["slopes"] = np.ones(3, np.float32)
    elif case == "k_shape":
        args["k"] = args["k"][..., :4]
    with pytest.raises(error) as raised:
        kernel.backward(**args)
    assert words in str(raised.value)


def test_kernel_backward_needs_backward():
    kernel = attnc.compile(ALIBI)
    q, k, v = numpy_inputs()
    slopes = np.ones(2, np.float32)
    out, lse = kernel(q, k, v, slopes=slopes, return_lse=True)
    with pytest.raises(attnc.KernelError, match="'alibi' was compiled without "
                       "its backward; compile it with backward=True"):
        kernel.backward(q, k, v, out, out, lse, slopes=slopes)


def test_kernel_backward_lse_of_no_softmax():
    kernel = attnc.compile("attention s() { normalize = sigmoid(score) }",
                           backward=True)
    q, k, v = numpy_inputs()
    out = kernel(q, k, v)
    lse = np.zeros(q.shape[:3], np.float32)
    with pytest.raises(ValueError, match="'s' does not define lse"):
        kernel.backward(q, k, v, out, out, lse)


def test_compile_backward_option():
    with pytest.raises(TypeError, match="backward must be a bool; got 1"):
        attnc.compile("attention d() {}", backward=1)
    with pytest.raises(attnc.CompileError, match="the backward runs on the "
                       "CPU only so far"):
        attnc.compile("attention d() {}", target="sm_80", dtype="bf16",
                      head_dim=64, backward=True)
