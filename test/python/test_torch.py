"""attnc.torch.attention: every example against the float64 reference, the
flex_attention-shaped arguments (enable_gqa, scale, return_lse, params as
keywords), the refusals. The backward: test_backward.py."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import attnc  # noqa: E402
import attnc.torch as at  # noqa: E402
from conftest import (BF16_TOLERANCE, EXAMPLES, F32_TOLERANCE, ROOT,  # noqa: E402
                      arguments, check_outputs, reference_attention, to_torch)

ALIBI = str(ROOT / "examples" / "alibi_causal.attn")
CAUSAL = lambda b, h, i, j: j <= i  # noqa: E731


def run_example(example, saved, dtype, requires_grad=False):
    """attention() on a saved run's inputs: (out, lse or None) as numpy."""
    kernel = at.kernel_for(example, dtype)
    q, k, v, params = arguments(kernel, saved, to_torch)
    for x in (q, k, v):
        x.requires_grad_(requires_grad)
    if kernel.returns_lse:
        out, lse = at.attention(q, k, v, str(example), enable_gqa=True,
                                return_lse=True, **params)
        assert lse.dtype == torch.float32 and lse.shape == q.shape[:3]
        lse = lse.detach().numpy()
    else:
        out, lse = at.attention(q, k, v, str(example), enable_gqa=True,
                                **params), None
    assert isinstance(out, torch.Tensor) and out.dtype == dtype
    assert out.shape == q.shape[:3] + v.shape[3:]
    return kernel, out.detach().float().numpy(), lse


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_f32(example, reference):
    saved = reference(example)
    kernel, out, lse = run_example(example, saved, torch.float32)
    check_outputs(kernel, saved, out, lse, F32_TOLERANCE)


@pytest.mark.parametrize("name", ["alibi_causal", "gqa_causal_softcap",
                                  "document"])
def test_examples_bf16(name, reference):
    example = ROOT / "examples" / f"{name}.attn"
    saved = reference(example)
    kernel, out, lse = run_example(example, saved, torch.bfloat16)
    check_outputs(kernel, saved, out, lse, BF16_TOLERANCE)


def test_autograd_path_matches_direct(reference):
    """Inputs that require grad go through the autograd wrapper (the custom
    op, or the Function before torch 2.4); the result is the same."""
    example = ROOT / "examples" / "relative_bias.attn"
    saved = reference(example)
    _, direct, direct_lse = run_example(example, saved, torch.float32)
    _, traced, traced_lse = run_example(example, saved, torch.float32,
                                        requires_grad=True)
    np.testing.assert_array_equal(direct, traced)
    np.testing.assert_array_equal(direct_lse, traced_lse)
    check_outputs(at.kernel_for(example), saved, traced, traced_lse,
                  F32_TOLERANCE)


def inputs(H=4, Hkv=2, N=37, D=16, Dv=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(2, H, N, D, generator=g),
            torch.randn(2, Hkv, N, D, generator=g),
            torch.randn(2, Hkv, N, Dv, generator=g))


def numpy_reference(q, k, v, **kw):
    return reference_attention(q.detach().numpy(), k.detach().numpy(),
                               v.detach().numpy(), **kw)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_params_as_keywords(requires_grad):
    """A tensor, an integer and a float param by keyword, through both paths
    (a wrong conversion of the integer or the float shows in the output)."""
    q, k, v = inputs()
    for x in (q, k, v):
        x.requires_grad_(requires_grad)
    source = """attention w(slopes: f32[H], window: i64, cap: f32) {
      score = cap * tanh(score / cap) + slopes[h] * (kv_idx - q_idx)
      mask = sliding_window(window)
    }"""
    slopes = torch.tensor([0.5, 0.25, 0.125, 1.0])
    out = at.attention(q, k, v, source, enable_gqa=True, slopes=slopes,
                       window=5, cap=2.0)
    s = slopes.numpy().astype(np.float64)
    expected = numpy_reference(
        q, k, v, score_mod=lambda x, b, h, i, j: 2.0 * np.tanh(x / 2.0)
        + s[h] * (j - i), mask=lambda b, h, i, j: (j <= i) & (i - j < 5))
    np.testing.assert_allclose(out.detach().numpy(), expected,
                               **F32_TOLERANCE)


def test_return_lse():
    q, k, v = inputs(H=2, Hkv=2, Dv=16)
    out, lse = at.attention(q, k, v, "attention c() { mask = causal() }",
                            return_lse=True)
    scores = (q @ k.transpose(-1, -2)).double() / 4.0
    scores = scores.masked_fill(torch.ones(37, 37).triu(1).bool(),
                                float("-inf"))
    np.testing.assert_allclose(lse.numpy(), scores.logsumexp(-1).numpy(),
                               **F32_TOLERANCE)
    np.testing.assert_allclose(out.numpy(), numpy_reference(q, k, v,
                                                            mask=CAUSAL),
                               **F32_TOLERANCE)


def test_scale():
    """scale= compiles the variant with that scale, as flex_attention's."""
    q, k, v = inputs()
    source = "attention c() { mask = causal() }"
    for scale in (None, 0.3, 1):
        out = at.attention(q, k, v, source, scale=scale, enable_gqa=True)
        np.testing.assert_allclose(
            out.numpy(), numpy_reference(q, k, v, mask=CAUSAL, scale=scale),
            **F32_TOLERANCE, err_msg=f"scale={scale}")
    assert at.kernel_for(source, scale=0.3) is not at.kernel_for(source)


def test_scale_keeps_line_numbers():
    source = ("// attention fake() { in a comment }\n"
              "attention bad() {\n  mask = causl()\n}")
    with pytest.raises(attnc.CompileError, match=r"<source>:3:"):
        at.attention(*inputs(H=2), source, scale=0.5)
    assert at._with_scale(source, 0.5).splitlines()[0] == \
        "// attention fake() { in a comment }"
    assert at._with_scale("attention a() {}\nattention b() {\n}", 2.0) == \
        "attention a() { scale = 2.0;}\nattention b() { scale = 2.0;\n}"


def test_kernels_are_cached():
    source = "attention c() { mask = causal() }"
    first = at.kernel_for(source)
    assert at.kernel_for(source) is first
    assert at.kernel_for(source, torch.bfloat16) is not first
    assert at.kernel_for(source, torch.bfloat16).dtype == "bf16"
    assert at.kernel_for(ALIBI).params[0].name == "slopes"


def test_path_variant():
    """A pathlib.Path is a file, like its str (one kernel for both)."""
    q, k, v = inputs(H=2, Hkv=2)
    path = ROOT / "examples" / "causal.attn"
    out = at.attention(q, k, v, path)
    np.testing.assert_allclose(out.numpy(), numpy_reference(q, k, v,
                                                            mask=CAUSAL),
                               **F32_TOLERANCE)
    assert at.kernel_for(path) is at.kernel_for(str(path))


def test_kernel_as_variant():
    q, k, v = inputs(H=2, Hkv=2)
    kernel = attnc.compile("attention c() { mask = causal() }")
    out = at.attention(q, k, v, kernel)
    np.testing.assert_allclose(out.numpy(), numpy_reference(q, k, v,
                                                            mask=CAUSAL),
                               **F32_TOLERANCE)
    with pytest.raises(ValueError, match="cannot change the scale of a "
                       "compiled attnc.Kernel"):
        at.attention(q, k, v, kernel, scale=0.5)
    with pytest.raises(TypeError, match=r"q must be f32 \(the kernel.s dtype\); "
                       "got bfloat16"):
        at.attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), kernel)


def test_no_grad_needs_no_backward():
    q, k, v = inputs(H=2, Hkv=2)
    q.requires_grad_()
    with torch.no_grad():
        out = at.attention(q, k, v, ALIBI, slopes=torch.tensor([0.5, 0.25]))
    assert not out.requires_grad


SLOPES = torch.tensor([0.5, 0.25])


@pytest.mark.parametrize("case, error, words", [
    ("missing_param", TypeError, "missing param 'slopes'"),
    ("unknown_param", TypeError, "unknown param 'slope'"),
    ("param_type", TypeError, "param 'slopes' must be a torch.Tensor or a "
     "number; got ndarray"),
    ("param_dtype", TypeError, "param 'slopes' must be f32"),
    ("q_dtype", TypeError, "q must be float32, float16 or bfloat16; got "
     "torch.float64"),
    ("k_dtype", TypeError, "k must be torch.float32 like q; got "
     "torch.bfloat16"),
    ("q_rank", ValueError, "q must have rank 4 ([B, H, N, D]); got shape "
     "[2, 37, 16]"),
    ("v_rank", ValueError, "v must have rank 4 ([B, Hkv, M, Dv])"),
    ("q_type", TypeError, "q must be a torch.Tensor; got list"),
    ("gqa", ValueError, "q has H = 4 heads and k, v have Hkv = 2; pass "
     "enable_gqa=True"),
    ("heads", ValueError, "q's heads H = 3 are not a multiple"),
    ("k_shape", ValueError, "k must have shape [B, Hkv, M, D]"),
    ("device", ValueError, "k is on meta; q is on cpu"),
    ("q_device", ValueError, "q is on meta; attnc runs on the CPU and on "
     "CUDA GPUs"),
    ("scale", ValueError, "scale must be a positive finite number"),
    ("own_scale", ValueError, "the variant sets its own scale"),
    ("lse", ValueError, "does not define lse"),
    ("variant_type", TypeError, "variant must be attnc source text"),
    ("missing_file", FileNotFoundError, "no_such.attn"),
])
def test_bad_call(case, error, words):
    q, k, v = inputs(H=2, Hkv=2)
    args = dict(q=q, k=k, v=v, variant=ALIBI, slopes=SLOPES)
    if case == "missing_param":
        del args["slopes"]
    elif case == "unknown_param":
        args["slope"] = args.pop("slopes")
    elif case == "param_type":
        args["slopes"] = SLOPES.numpy()
    elif case == "param_dtype":
        args["slopes"] = SLOPES.double()
    elif case == "q_dtype":
        args["q"] = q.double()
    elif case == "k_dtype":
        args["k"] = k.bfloat16()
    elif case == "q_rank":
        args["q"] = q[0]
    elif case == "v_rank":
        args["v"] = v[0]
    elif case == "q_type":
        args["q"] = q.tolist()
    elif case == "gqa":
        args["q"] = torch.cat([q, q], 1)
        args["slopes"] = torch.ones(4)
    elif case == "heads":
        args["q"] = torch.cat([q, q[:, :1]], 1)
        args["enable_gqa"] = True
    elif case == "k_shape":
        args["k"] = k[..., :8]
    elif case == "device":
        args["k"] = torch.empty(k.shape, device="meta")
    elif case == "q_device":
        args.update(q=torch.empty(q.shape, device="meta"),
                    k=torch.empty(k.shape, device="meta"),
                    v=torch.empty(v.shape, device="meta"))
    elif case == "scale":
        args["scale"] = -1.0
    elif case == "own_scale":
        args["variant"] = "attention s() { scale = 0.5 }"
        args["scale"] = 0.25
    elif case == "lse":
        args["variant"] = "attention s() { normalize = sigmoid(score) }"
        args["return_lse"] = True
    elif case == "variant_type":
        args["variant"] = 3
    elif case == "missing_file":
        args["variant"] = "no_such.attn"
    if case in ("own_scale", "lse", "missing_file"):
        del args["slopes"]
    with pytest.raises(error) as raised:
        at.attention(args.pop("q"), args.pop("k"), args.pop("v"),
                     args.pop("variant"), **args)
    assert words in str(raised.value)


def test_gqa_needs_enable_gqa():
    q, k, v = inputs(H=4, Hkv=2)
    source = "attention c() { mask = causal() }"
    with pytest.raises(ValueError, match="enable_gqa=True"):
        at.attention(q, k, v, source)
    out = at.attention(q, k, v, source, enable_gqa=True)
    np.testing.assert_allclose(out.numpy(), numpy_reference(q, k, v,
                                                            mask=CAUSAL),
                               **F32_TOLERANCE)


def test_custom_op_where_torch_has_them():
    """torch >= 2.4 defines torch.ops.attnc.attention; older torch (Debian's
    1.13) falls back to the autograd Function."""
    has_custom_ops = hasattr(torch.library, "custom_op")
    assert (at.CUSTOM_OP is not None) == has_custom_ops
    if not has_custom_ops:
        pytest.skip(f"torch {torch.__version__} has no torch.library.custom_op")
    q, k, v = inputs(H=2, Hkv=2)
    out, lse = at.CUSTOM_OP(ALIBI, q, k, v, "slopes", [SLOPES], "", [], None,
                            True)
    expected = at.attention(q, k, v, ALIBI, slopes=SLOPES)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert lse.shape == q.shape[:3]
    torch.library.opcheck(at.CUSTOM_OP, (ALIBI, q, k, v, "slopes", [SLOPES],
                                         "", [], None, True))


def test_import_attnc_does_not_import_torch():
    program = ("import sys, attnc\n"
               "assert 'torch' not in sys.modules\n"
               "assert attnc.torch.attention and 'torch' in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", program], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("example", ["moba", "differential"])
def test_selection_and_branches_have_no_backward(example):
    """A `select` or `branches` variant runs forward; a backward through it
    is refused."""
    q, k, v = inputs(H=2, Hkv=2)
    q.requires_grad_(True)
    out = at.attention(q, k, v, str(ROOT / "examples" / f"{example}.attn"))
    with pytest.raises(ValueError, match="compiled without its backward"):
        out.sum().backward()
