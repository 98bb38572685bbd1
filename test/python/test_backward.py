"""The backward from Python: Kernel.backward on numpy arrays, and autograd
through attnc.torch.attention on the CPU, against torch's autograd of a
float64 implementation of the same variant (conftest.torch_reference);
the refusals of both."""

import numpy as np
import pytest

import attnc
from conftest import BF16_TOLERANCE, F32_TOLERANCE, torch_reference

torch = pytest.importorskip("torch")

import attnc.torch as at  # noqa: E402

CAUSAL = lambda b, h, i, j: j <= i  # noqa: E731
ALIBI = """attention alibi(slopes: f32[H]) {
  score = score + slopes[h] * (kv_idx - q_idx)
  mask = causal()
}"""


def inputs(H=2, Hkv=2, N=37, D=16, Dv=8, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(shape, generator=g).to(dtype).requires_grad_()
                 for shape in ((2, H, N, D), (2, Hkv, N, D), (2, Hkv, N, Dv)))


def slopes_mod(slopes):
    return lambda s, b, h, i, j: s + slopes.view(1, -1, 1, 1) * (j - i)


# name: (source, H, Hkv, params made from a generator, the reference's
# (score_mod, mask, normalize) given the params as float64).
CASES = {
    "dense": ("attention dense() {}", 2, 2, lambda g: {},
              lambda p: (None, None, "softmax")),
    "causal": ("attention c() { mask = causal() }", 2, 2, lambda g: {},
               lambda p: (None, CAUSAL, "softmax")),
    "alibi_learnable_slopes": (
        ALIBI, 4, 4,
        lambda g: {"slopes": (torch.rand(4, generator=g) + 0.1)
                   .requires_grad_()},
        lambda p: (slopes_mod(p["slopes"]), CAUSAL, "softmax")),
    "softcap_learnable_cap": (
        "attention s(cap: f32) { score = softcap(cap) }", 2, 2,
        lambda g: {"cap": torch.tensor(1.5).requires_grad_()},
        lambda p: (lambda s, *_: p["cap"] * torch.tanh(s / p["cap"]), None,
                   "softmax")),
    "gqa_causal_softcap_float": (
        "attention s(cap: f32) { score = softcap(cap)\n mask = causal() }",
        4, 2, lambda g: {"cap": 2.0},
        lambda p: (lambda s, *_: 2.0 * torch.tanh(s / 2.0), CAUSAL,
                   "softmax")),
    "sigmoid_learnable_bias": (
        "attention s(bias: f32) { normalize = sigmoid(score + bias) }", 2, 2,
        lambda g: {"bias": torch.tensor(-1.0).requires_grad_()},
        lambda p: (lambda s, *_: s + p["bias"], None, "sigmoid")),
}


def reference_grads(case, q, k, v, params, dout):
    """dq, dk, dv and {param: grad} of sum(out * dout) in float64, for the
    params that require grad."""
    source, H, Hkv, _, mods = CASES[case]
    leaves = [x.detach().double().requires_grad_() for x in (q, k, v)]
    tensors = {n: x.detach().double().requires_grad_()
               for n, x in params.items()
               if isinstance(x, torch.Tensor) and x.requires_grad}
    score_mod, mask, normalize = mods({**params, **tensors})
    out = torch_reference(*leaves, score_mod, mask, normalize)
    (out * dout.double()).sum().backward()
    return [x.grad for x in leaves], {n: x.grad for n, x in tensors.items()}


def check_grads(case, q, k, v, params, dout, tolerance):
    want_qkv, want_params = reference_grads(case, q, k, v, params, dout)
    for name, x, want in zip("qkv", (q, k, v), want_qkv):
        assert x.grad is not None, f"{case}: d{name} missing"
        assert x.grad.dtype == x.dtype and x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad.double().numpy(), want.numpy(),
                                   **tolerance, err_msg=f"{case}: d{name}")
    for name, want in want_params.items():
        got = params[name].grad
        assert got is not None, f"{case}: d{name} missing"
        assert got.shape == params[name].shape
        np.testing.assert_allclose(got.double().numpy(), want.numpy(),
                                   **tolerance, err_msg=f"{case}: d{name}")
    assert want_qkv[0].abs().max() > 1e-3  # not a check of zeros


@pytest.mark.parametrize("case", CASES)
def test_autograd_f32(case):
    source, H, Hkv, make_params, _ = CASES[case]
    q, k, v = inputs(H, Hkv)
    params = make_params(torch.Generator().manual_seed(1))
    out = at.attention(q, k, v, source, enable_gqa=H != Hkv, **params)
    assert out.requires_grad
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
    (out * dout).sum().backward()
    check_grads(case, q, k, v, params, dout, F32_TOLERANCE)


def test_autograd_bf16():
    """bf16 inputs and gradients (the reference on the same bf16 values)."""
    q, k, v = inputs(H=4, Hkv=4, dtype=torch.bfloat16)
    slopes = (torch.rand(4) + 0.1).requires_grad_()
    out = at.attention(q, k, v, ALIBI, slopes=slopes)
    assert out.dtype == torch.bfloat16
    dout = torch.randn(out.shape).bfloat16()
    (out * dout).sum().backward()
    assert slopes.grad.dtype == torch.float32
    check_grads("alibi_learnable_slopes", q, k, v, {"slopes": slopes}, dout,
                BF16_TOLERANCE)


def test_only_what_requires_grad():
    """A param that does not require grad gets none, a Python number none;
    q alone may require grad; an integer param is not differentiated."""
    q, k, v = (x.detach() for x in inputs())
    q.requires_grad_()
    slopes = torch.tensor([0.5, 0.25])
    source = """attention w(slopes: f32[H], len: i32[B], cap: f32) {
      score = softcap(cap) + slopes[h] * (kv_idx - q_idx)
      mask = kv_idx < len[b]
    }"""
    length = torch.tensor([20, 37], dtype=torch.int32)
    out = at.attention(q, k, v, source, slopes=slopes, len=length, cap=3.0)
    out.sum().backward()
    assert slopes.grad is None and k.grad is None and v.grad is None
    dq = q.grad
    q64 = q.detach().double().requires_grad_()
    out64 = torch_reference(
        q64, k.double(), v.double(),
        lambda s, b, h, i, j: 3.0 * torch.tanh(s / 3.0)
        + slopes.double().view(1, -1, 1, 1) * (j - i),
        lambda b, h, i, j: j < length.view(-1, 1, 1, 1))
    out64.sum().backward()
    np.testing.assert_allclose(dq.numpy(), q64.grad.numpy(), **F32_TOLERANCE)


def test_return_lse_and_its_gradient():
    """out's gradient with return_lse=True; a gradient through lse is
    refused, not dropped."""
    q, k, v = inputs()
    out, lse = at.attention(q, k, v, "attention c() { mask = causal() }",
                            return_lse=True)
    out.sum().backward(retain_graph=True)
    check_grads("causal", q, k, v, {}, torch.ones(out.shape), F32_TOLERANCE)
    with pytest.raises(NotImplementedError, match="the gradient through lse "
                       "is not available yet"):
        (out.sum() + lse.sum()).backward()


def test_kernel_variant_needs_its_backward():
    q, k, v = inputs()
    source = "attention c() { mask = causal() }"
    # The Kernel is a temporary: the recorded backward keeps it alive.
    out = at.attention(q, k, v, attnc.compile(source))
    with pytest.raises(ValueError, match="'c' was compiled without its "
                       r"backward; compile it with attnc.compile\(\.\.\., "
                       "backward=True\\)"):
        out.sum().backward()
    assert q.grad is None
    out = at.attention(q, k, v, attnc.compile(source, backward=True))
    out.sum().backward()
    check_grads("causal", q, k, v, {}, torch.ones(out.shape), F32_TOLERANCE)


# Kernel.backward on numpy arrays.

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


def test_kernel_backward_deterministic():
    """deterministic=True: the same bits from two calls, and no param
    gradients (they are summed in no fixed order)."""
    kernel = attnc.compile(ALIBI, backward=True)
    q, k, v = numpy_inputs(H=4, Hkv=2)
    slopes = np.array([0.5, 0.25, 0.125, 1.0], np.float32)
    out, lse = kernel(q, k, v, slopes=slopes, return_lse=True)
    dout = np.random.default_rng(5).standard_normal(out.shape,
                                                    dtype=np.float32)
    first = kernel.backward(q, k, v, out, dout, lse, slopes=slopes,
                            deterministic=True)
    second = kernel.backward(q, k, v, out, dout, lse, slopes=slopes,
                             deterministic=True)
    assert first[3] == {} and second[3] == {}
    for a, b in zip(first[:3], second[:3]):
        assert a.tobytes() == b.tobytes()
    dq, dk, dv, _ = kernel.backward(q, k, v, out, dout, lse, slopes=slopes)
    np.testing.assert_array_equal(first[0], dq)


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
    with pytest.raises(attnc.CompileError, match="the GPU backward takes "
                       "head dims 64 and 128; got D = 192"):
        attnc.compile("attention d() {}", target="sm_80", dtype="bf16",
                      head_dim=192, backward=True)
