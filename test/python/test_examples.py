"""Every example through the package, on numpy and torch, against the
float64 reference (`attnc run --check --save` writes its inputs and the
checked outputs), and a few variants against a reference written here."""

import numpy as np
import pytest

import attnc
from conftest import (BF16_TOLERANCE, EXAMPLES, F32_TOLERANCE, arguments,
                      check_outputs, reference_attention, to_numpy, to_torch,
                      torch_dtypes)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_numpy_f32(example, reference):
    saved = reference(example)
    kernel = attnc.compile_file(example)
    q, k, v, params = arguments(kernel, saved, to_numpy)
    if kernel.returns_lse:
        out, lse = kernel(q, k, v, return_lse=True, threads=2, **params)
        assert lse.dtype == np.float32 and lse.shape == q.shape[:3]
    else:
        out, lse = kernel(q, k, v, threads=2, **params), None
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    check_outputs(kernel, saved, out, lse, F32_TOLERANCE)


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_torch(example, dtype, reference):
    torch = pytest.importorskip("torch")
    saved = reference(example)
    kernel = attnc.compile_file(example, dtype=dtype)
    q, k, v, params = arguments(kernel, saved, to_torch)
    lse = None
    if kernel.returns_lse:
        out, lse = kernel(q, k, v, return_lse=True, **params)
        assert lse.dtype == torch.float32
        lse = lse.numpy()
    else:
        out = kernel(q, k, v, **params)
    assert isinstance(out, torch.Tensor) and out.dtype == torch_dtypes()[dtype]
    tolerance = F32_TOLERANCE if dtype == "f32" else BF16_TOLERANCE
    check_outputs(kernel, saved, out.float().numpy(), lse, tolerance)


CASES = {
    "dense": ("attention dense() {}", {}, None, None),
    "causal": ("attention c() { mask = causal() }", {}, None,
               lambda b, h, i, j: j <= i),
    "window": ("attention w(window: i64) { mask = sliding_window(window) }",
               {"window": 5}, None, lambda b, h, i, j: (j <= i) & (i - j < 5)),
    "softcap": ("attention s(cap: f32) { score = cap * tanh(score / cap) }",
                {"cap": 2.0}, lambda s, b, h, i, j: 2.0 * np.tanh(s / 2.0),
                None),
}


@pytest.mark.parametrize("case", CASES)
def test_against_numpy_reference(case):
    source, params, score_mod, mask = CASES[case]
    rng = np.random.default_rng(0)
    # GQA (H = 4, Hkv = 2), N != M, Dv != D.
    q = rng.standard_normal((2, 4, 37, 16), dtype=np.float32)
    k = rng.standard_normal((2, 2, 37, 16), dtype=np.float32)
    v = rng.standard_normal((2, 2, 37, 8), dtype=np.float32)
    out = attnc.compile(source)(q, k, v, **params)
    assert out.shape == (2, 4, 37, 8)
    np.testing.assert_allclose(out, reference_attention(q, k, v, score_mod,
                                                        mask), **F32_TOLERANCE)


def test_strided_inputs_and_out():
    """A [B, N, H, D] buffer seen as [B, H, N, D], and an out= view."""
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((1, 40, 2, 16), dtype=np.float32)
               .transpose(0, 2, 1, 3) for _ in range(3))
    buffer = np.zeros((1, 40, 2, 16), np.float32)
    out = buffer.transpose(0, 2, 1, 3)
    result = attnc.compile("attention c() { mask = causal() }")(q, k, v,
                                                                 out=out)
    assert result is out
    np.testing.assert_allclose(
        buffer.transpose(0, 2, 1, 3),
        reference_attention(q, k, v, mask=lambda b, h, i, j: j <= i),
        **F32_TOLERANCE)


def test_threads_agree():
    rng = np.random.default_rng(2)
    q, k, v = (rng.standard_normal((1, 2, 200, 32), dtype=np.float32)
               for _ in range(3))
    kernel = attnc.compile("attention c() { mask = causal() }")
    np.testing.assert_array_equal(kernel(q, k, v, threads=1),
                                  kernel(q, k, v, threads=3))


def test_read_only_inputs():
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((1, 1, 8, 16), dtype=np.float32)
               for _ in range(3))
    for x in (q, k, v):
        x.flags.writeable = False
    out = attnc.compile("attention dense() {}")(q, k, v)
    np.testing.assert_allclose(out, reference_attention(q, k, v),
                               **F32_TOLERANCE)
