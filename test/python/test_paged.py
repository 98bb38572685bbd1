"""A paged KV cache through the package: attnc.compile(..., paged_kv=True)
and kernel(q, k_pages, v_pages, page_table=, seq_lens=), against the float64
reference on K and V gathered from the pages (keys past each sequence's
length masked), and against a contiguous kernel on each sequence's gathered
keys; then the refusals."""

import numpy as np
import pytest

import attnc
from conftest import reference_attention

ALIBI = ("attention alibi(slopes: f32[H]) {\n"
         "  score = score + slopes[h] * (kv_idx - q_idx)\n}\n")
B, H, HKV, N, D, PAGE, PAGES, MAX_PAGES = 3, 4, 2, 5, 16, 4, 9, 3


def cache(rng, dtype=np.float32):
    """q, the pages of k and v, a table, the lengths and the slopes."""
    q = rng.standard_normal((B, H, N, D)).astype(dtype)
    k, v = (rng.standard_normal((PAGES, PAGE, HKV, D)).astype(dtype)
            for _ in range(2))
    table = np.array([[7, 2, 5], [0, 8, 1], [4, 6, 3]], np.int32)
    lens = np.array([12, 5, 1], np.int32)
    slopes = np.array([0.5, 0.25, 0.125, 0.0625], np.float32)
    return q, k, v, table, lens, slopes


def gather(pages, table):
    """[B, Hkv, max_pages * page_size, D]: each sequence's keys in order."""
    rows = pages[table]  # [B, max_pages, page_size, Hkv, D]
    b, p, s, h, d = rows.shape
    return rows.reshape(b, p * s, h, d).transpose(0, 2, 1, 3)


@pytest.fixture(scope="module")
def kernels():
    return (attnc.compile(ALIBI, paged_kv=True), attnc.compile(ALIBI))


def test_paged_matches_reference(kernels):
    paged, contiguous = kernels
    assert paged.paged_kv and not contiguous.paged_kv
    q, k, v, table, lens, slopes = cache(np.random.default_rng(0))
    out = paged(q, k, v, page_table=table, seq_lens=lens, slopes=slopes)
    assert out.shape == (B, H, N, D) and out.dtype == np.float32
    K, V = gather(k, table), gather(v, table)
    expected = reference_attention(
        q, K, V, score_mod=lambda s, b, h, i, j: s + slopes[h] * (j - i),
        mask=lambda b, h, i, j: j < lens[b])
    np.testing.assert_allclose(out, expected, atol=2e-5, rtol=2e-5)
    # Each sequence alone through the contiguous kernel, on its own keys.
    for b in range(B):
        M = int(lens[b])
        alone = contiguous(q[b:b + 1], np.ascontiguousarray(K[b:b + 1, :, :M]),
                           np.ascontiguousarray(V[b:b + 1, :, :M]),
                           slopes=slopes)
        np.testing.assert_allclose(out[b:b + 1], alone, atol=2e-5, rtol=2e-5)


def test_paged_lse_and_empty_sequence(kernels):
    paged, _ = kernels
    q, k, v, table, lens, slopes = cache(np.random.default_rng(1))
    lens = np.array([0, 7, 12], np.int32)
    out, lse = paged(q, k, v, page_table=table, seq_lens=lens,
                     slopes=slopes, return_lse=True)
    assert (out[0] == 0).all() and np.isneginf(lse[0]).all()
    assert np.isfinite(lse[1:]).all()


def test_paged_torch(kernels):
    torch = pytest.importorskip("torch")
    paged, _ = kernels
    q, k, v, table, lens, slopes = cache(np.random.default_rng(2))
    expected = paged(q, k, v, page_table=table, seq_lens=lens, slopes=slopes)
    out = paged(*(torch.from_numpy(x) for x in (q, k, v)),
                page_table=torch.from_numpy(table),
                seq_lens=torch.from_numpy(lens),
                slopes=torch.from_numpy(slopes))
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("change, error, message", [
    ({"page_table": None}, ValueError, "compiled with paged_kv=True: pass "
     "page_table"),
    ({"seq_lens": None}, ValueError, "pass seq_lens"),
    ({"page_table": "i64"}, TypeError, "page_table must be i32; got int64"),
    ({"seq_lens": "f32"}, TypeError, "seq_lens must be i32; got float32"),
    ({"page_table": "rank1"}, ValueError, "page_table must have rank 2"),
    ({"seq_lens": "short"}, ValueError, r"seq_lens must have shape \[B\] = "
     r"\[3\]; got \[2\]"),
    ({"page_table": "short"}, ValueError, r"page_table must have shape "
     r"\[B, max_pages\] = \[3, 3\]; got \[2, 3\]"),
    ({"v": "short"}, ValueError, r"v must have shape \[num_pages, page_size, "
     r"Hkv, Dv\]"),
    ({"page_table": "bad page"}, attnc.KernelError, "names no page"),
    ({"seq_lens": "too long"}, attnc.KernelError, "sequence length 1 is 13"),
])
def test_paged_refusals(kernels, change, error, message):
    paged, _ = kernels
    q, k, v, table, lens, slopes = cache(np.random.default_rng(3))
    args = {"q": q, "k": k, "v": v, "page_table": table, "seq_lens": lens}
    (name, how), = change.items()
    x = args[name]
    args[name] = {None: None, "i64": x.astype(np.int64) if x is not None
                  else None, "f32": x.astype(np.float32),
                  "rank1": x.reshape(-1), "short": x[:2],
                  "bad page": np.where(x == 2, PAGES, x).astype(np.int32),
                  "too long": np.array([12, 13, 1], np.int32)}[how]
    out = np.full((B, H, N, D), 7, np.float32)
    with pytest.raises(error, match=message):
        paged(args.pop("q"), args.pop("k"), args.pop("v"), out=out,
              slopes=slopes, **args)
    assert (out == 7).all()


def test_contiguous_refuses_a_table(kernels):
    _, contiguous = kernels
    q, k, v, table, lens, slopes = cache(np.random.default_rng(4))
    with pytest.raises(ValueError, match="takes contiguous k and v; compile "
                       "it with paged_kv=True"):
        contiguous(q, q, q, page_table=table, seq_lens=lens, slopes=slopes)
    with pytest.raises(TypeError, match="paged_kv must be a bool"):
        attnc.compile(ALIBI, paged_kv=1)
