"""attnc.torch on a CUDA GPU: beside flex_attention, inside torch.compile and
CUDA graphs. Needs torch >= 2.5 with CUDA (flex_attention; the custom op from
2.4) and libattnc built with the GPU backend.

usage (on the GPU machine, from the project root):
    ATTNC_LIBRARY=PATH/libattnc.so.0 PYTHONPATH=python \\
        python3 test/python/gpu_torch.py [--only NAME,...] [--list]

Prints one PASS or FAIL line per check (SKIP where torch lacks what it
needs) and a closing `N passed, N failed` line; exits 1 when any failed.
"""

import argparse
import importlib
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

B, H, N, D = 2, 8, 256, 128
# bf16 against bf16: each output is within about one bf16 step (2**-8
# relative) of the exact value, so two of them are within two.
BF16 = dict(atol=2e-2, rtol=2e-2)

CHECKS = []
at = None  # attnc.torch, imported in main() once ATTNC_CACHE_DIR is set


class Skip(Exception):
    pass


def check(fn):
    CHECKS.append(fn)
    return fn


def randn(*shape, dtype=torch.bfloat16, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return torch.randn(*shape, device="cuda", dtype=dtype, generator=g)


def qkv(Hkv=H, n=N, m=None, seed=0):
    m = n if m is None else m
    return (randn(B, H, n, D, seed=seed), randn(B, Hkv, m, D, seed=seed + 1),
            randn(B, Hkv, m, D, seed=seed + 2))


def reference(q, k, v, score_mod=None, mask_mod=None, scale=None):
    """(out, lse) in float32 by the definition; masked rows give 0, -inf."""
    q, k, v = q.float(), k.float(), v.float()
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ k.transpose(-1, -2) * scale
    b, h, i, j = (torch.arange(n, device=q.device).view(
        [-1 if d == axis else 1 for d in range(4)])
        for axis, n in enumerate(s.shape))
    if score_mod is not None:
        s = score_mod(s, b, h, i, j)
    if mask_mod is not None:
        s = s.masked_fill(~mask_mod(b, h, i, j).expand(s.shape),
                          float("-inf"))
    lse = s.logsumexp(-1)
    p = torch.exp(s - lse.unsqueeze(-1).masked_fill(lse.isinf().unsqueeze(-1),
                                                   0))
    return p @ v, lse


def close(name, got, expected, **tolerance):
    """assert_close with the largest error in the message."""
    error = (got.float() - expected.float()).abs().nan_to_num(0).max().item()
    try:
        torch.testing.assert_close(got.float(), expected.float(), **tolerance)
    except AssertionError as e:
        raise AssertionError(f"{name}: max |error| {error:.3g}\n{e}") from None
    return error


# The variants compared with flex: (attnc file, params, flex score_mod,
# flex mask_mod, enable_gqa).
def causal(b, h, q, kv):
    return q >= kv


def window_of(w):
    return lambda b, h, q, kv: (q >= kv) & (q - kv < w)


SLOPES = None  # made on the GPU in main()


def variants():
    slopes = SLOPES
    return {
        "dense": ("dense.attn", {}, None, None, False),
        "causal": ("causal.attn", {}, None, causal, False),
        "alibi_causal": ("alibi_causal.attn", {"slopes": slopes},
                         lambda s, b, h, q, kv: s + slopes[h] * (kv - q),
                         causal, False),
        "sliding_window": ("sliding_window.attn", {"window": 64}, None,
                           window_of(64), False),
        "softcap": ("softcap.attn", {"cap": 20.0},
                    lambda s, b, h, q, kv: 20.0 * torch.tanh(s / 20.0), None,
                    False),
        "gqa_causal_softcap": ("gqa_causal_softcap.attn", {"cap": 50.0},
                               lambda s, b, h, q, kv: 50.0 * torch.tanh(s / 50.0),
                               causal, True),
    }


def flex_module():
    try:
        return importlib.import_module("torch.nn.attention.flex_attention")
    except ImportError as e:
        raise Skip(f"torch {torch.__version__} has no flex_attention ({e})")


def make_flex_check(name):
    def flex_check():
        flex = flex_module()
        path, params, score_mod, mask_mod, gqa = variants()[name]
        q, k, v = qkv(Hkv=2 if gqa else H)
        block_mask = flex.create_block_mask(mask_mod, None, None, N, N,
                                            device="cuda") if mask_mod else None
        expected = flex.flex_attention(q, k, v, score_mod=score_mod,
                                       block_mask=block_mask, enable_gqa=gqa)
        out, lse = at.attention(q, k, v, str(EXAMPLES / path),
                                enable_gqa=gqa, return_lse=True, **params)
        torch.cuda.synchronize()
        assert out.dtype == torch.bfloat16 and out.shape == q.shape
        error = close("out vs flex_attention", out, expected, **BF16)
        # Neither is exact: attnc may be at most twice as far from the f32
        # definition as flex is (and a bf16 step in any case).
        ref_out, ref_lse = reference(q, k, v, score_mod, mask_mod)
        ours = (out.float() - ref_out).abs().max().item()
        theirs = (expected.float() - ref_out).abs().max().item()
        assert ours <= max(2 * theirs, 1e-2), \
            f"attnc is {ours:.3g} from the f32 definition, flex {theirs:.3g}"
        close("lse vs the f32 definition", lse, ref_lse, atol=2e-2,
              rtol=1e-3)
        return f"max |attnc - flex| {error:.3g}; from f32: attnc {ours:.3g}, " \
               f"flex {theirs:.3g}"
    flex_check.__name__ = f"flex_{name}"
    return flex_check


for _name in ("dense", "causal", "alibi_causal", "sliding_window", "softcap",
              "gqa_causal_softcap"):
    check(make_flex_check(_name))


@check
def odd_sizes():
    """N = 300 queries, M = 333 keys (neither a multiple of a tile), D =
    64, a scale of flex's, against the f32 definition."""
    q = randn(1, 4, 300, 64, seed=3)
    k, v = randn(1, 4, 333, 64, seed=4), randn(1, 4, 333, 64, seed=5)
    slopes = SLOPES[:4]
    out = at.attention(q, k, v, str(EXAMPLES / "alibi_causal.attn"),
                       scale=0.2, slopes=slopes)
    expected, _ = reference(q, k, v,
                            lambda s, b, h, i, j: s + slopes[h] * (j - i),
                            causal, scale=0.2)
    return f"max |error| {close('out', out, expected, **BF16):.3g}"


@check
def strided_inputs():
    """q, k, v as [B, H, N, D] views of [B, N, H, D] buffers."""
    q, k, v = (randn(B, N, H, D, seed=s).transpose(1, 2) for s in (6, 7, 8))
    source = "attention c() { mask = causal() }"
    out = at.attention(q, k, v, source)
    expected = at.attention(q.contiguous(), k.contiguous(), v.contiguous(),
                            source)
    close("strided vs contiguous", out, expected, **BF16)


@check
def current_stream():
    """The kernel runs on torch's current stream: on a side stream, after a
    long sleep and then the write of q, it must see the new q."""
    q, k, v = qkv(seed=9)
    path = str(EXAMPLES / "causal.attn")
    expected = at.attention(q, k, v, path)
    buffer = torch.zeros_like(q)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        torch.cuda._sleep(200_000_000)  # about 0.1 s: longer than a launch
        buffer.copy_(q)
        out = at.attention(buffer, k, v, path)
    side.synchronize()
    close("out on a side stream", out, expected, **BF16)


@check
def paged_kv():
    """A paged kernel (attnc.compile(paged_kv=True)) on CUDA bf16 pages
    with GQA, against the definition on K and V gathered from the pages
    with keys past each sequence's length masked; then a page the table
    names that k and v lack, reported by the synchronizing call."""
    import attnc
    Hkv, page, pages, max_pages = 2, 64, 12, 4
    source = "attention paged() {}"
    kernel = attnc.compile(source, target=at._target(torch.device("cuda")),
                           dtype="bf16", head_dim=D, paged_kv=True)
    q = randn(B, H, 8, D, seed=20)
    k, v = (randn(pages, page, Hkv, D, seed=s) for s in (21, 22))
    table = torch.tensor([[5, 0, 9, 2], [11, 3, 7, 1]], dtype=torch.int32,
                         device="cuda")
    lens = torch.tensor([200, 77], dtype=torch.int32, device="cuda")
    out = kernel(q, k, v, page_table=table, seq_lens=lens)
    gathered = [x[table.long()].reshape(B, max_pages * page, Hkv, D)
                .transpose(1, 2) for x in (k, v)]
    expected, _ = reference(q, *gathered, mask_mod=lambda b, h, i, j:
                            j < lens.view(-1, 1, 1, 1))
    error = close("paged vs gathered", out, expected, **BF16)
    bad = table.clone()
    bad[1, 0] = pages
    try:
        kernel(q, k, v, page_table=bad, seq_lens=lens)
    except attnc.KernelError as e:
        assert "names no page" in str(e), e
    else:
        raise AssertionError("a page past k's was not reported")
    return f"max |error| {error:.3g}"


def need_op():
    if at.CUSTOM_OP is None:
        raise Skip(f"torch {torch.__version__} has no torch.library.custom_op")


@check
def custom_op_eager():
    """torch.ops.attnc.attention gives what the direct call gives."""
    need_op()
    q, k, v = qkv(seed=10)
    path = str(EXAMPLES / "alibi_causal.attn")
    direct, direct_lse = at.attention(q, k, v, path, slopes=SLOPES,
                                      return_lse=True)
    out, lse = torch.ops.attnc.attention(path, q, k, v, "slopes", [SLOPES],
                                         "", [], None, True)
    close("out", out, direct, **BF16)
    close("lse", lse, direct_lse, **BF16)


@check
def opcheck():
    """torch.library.opcheck: the schema, the fake, the autograd
    registration, AOT dispatch with dynamic shapes."""
    need_op()
    if not hasattr(torch.library, "opcheck"):
        raise Skip("no torch.library.opcheck")
    q, k, v = qkv(seed=11)
    path = str(EXAMPLES / "alibi_causal.attn")
    for return_lse in (False, True):
        torch.library.opcheck(at.CUSTOM_OP, (path, q, k, v, "slopes", [SLOPES],
                                             "", [], None, return_lse))


class Block(torch.nn.Module):
    """A module around attnc: projections, ALiBi attention, a residual."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.scale = torch.nn.Parameter(torch.ones(D, device="cuda",
                                                   dtype=torch.bfloat16))
        self.register_buffer("slopes", SLOPES.clone())

    def forward(self, q, k, v):
        out = at.attention(q * self.scale, k, v, self.path,
                           slopes=self.slopes)
        return out + q


def module_inputs(n=N, seed=12):
    return qkv(n=n, seed=seed)


@check
def compile_no_graph_breaks():
    """torch._dynamo.explain finds one graph and no break, the graph holds
    attnc::attention, and the compiled module matches eager."""
    need_op()
    import torch._dynamo
    module = Block(str(EXAMPLES / "alibi_causal.attn"))
    q, k, v = module_inputs()
    with torch.no_grad():
        eager = module(q, k, v)
        torch._dynamo.reset()
        explained = torch._dynamo.explain(module)(q, k, v)
        assert explained.graph_break_count == 0, \
            f"{explained.graph_break_count} graph breaks: " \
            f"{explained.break_reasons}"
        assert explained.graph_count == 1, f"{explained.graph_count} graphs"
        graphs = []

        def backend(gm, example_inputs):
            graphs.append(str(gm.graph))
            return gm.forward
        torch._dynamo.reset()
        torch.compile(module, backend=backend, fullgraph=True)(q, k, v)
        assert any("attnc.attention" in g for g in graphs), graphs
        torch._dynamo.reset()
        compiled = torch.compile(module, fullgraph=True)
        out = compiled(q, k, v)
    close("compiled vs eager", out, eager, **BF16)
    return f"{explained.graph_count} graph, 0 breaks, {explained.op_count} ops"


@check
def compile_dynamic_lengths():
    """A dynamic compile runs N = 256, 384 and 512 from one frame."""
    need_op()
    import torch._dynamo
    from torch._dynamo.testing import CompileCounterWithBackend
    module = Block(str(EXAMPLES / "alibi_causal.attn"))
    counter = CompileCounterWithBackend("inductor")
    torch._dynamo.reset()
    compiled = torch.compile(module, backend=counter, dynamic=True,
                             fullgraph=True)
    with torch.no_grad():
        for n in (256, 384, 512):
            q, k, v = module_inputs(n=n, seed=n)
            close(f"N = {n}", compiled(q, k, v), module(q, k, v), **BF16)
    assert counter.frame_count == 1, f"{counter.frame_count} compiles"
    return "1 compile for 3 lengths"


@check
def cuda_graph():
    """Captured once, replayed on new inputs copied into the captured ones:
    each replay matches an eager call on those inputs."""
    path = str(EXAMPLES / "alibi_causal.attn")
    q, k, v = qkv(seed=20)
    static = [x.clone() for x in (q, k, v)]
    # Warm up on a side stream, as torch's docs ask (and so the kernel is
    # compiled and loaded before the capture).
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            at.attention(*static, path, slopes=SLOPES)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = at.attention(*static, path, slopes=SLOPES)
    for seed in (21, 22):
        fresh = qkv(seed=seed)
        for buffer, x in zip(static, fresh):
            buffer.copy_(x)
        graph.replay()
        torch.cuda.synchronize()
        close(f"replay {seed}", captured,
              at.attention(*fresh, path, slopes=SLOPES), **BF16)


@check
def compile_reduce_overhead():
    """torch.compile(mode="reduce-overhead") (CUDA graph trees) matches
    eager on three calls with fresh inputs."""
    need_op()
    import torch._dynamo
    module = Block(str(EXAMPLES / "alibi_causal.attn"))
    torch._dynamo.reset()
    compiled = torch.compile(module, mode="reduce-overhead", fullgraph=True)
    with torch.no_grad():
        for seed in (30, 31, 32):
            q, k, v = module_inputs(seed=seed)
            out = compiled(q, k, v).clone()
            close(f"call {seed}", out, module(q, k, v), **BF16)
    skips = {}
    try:
        from torch._dynamo.utils import counters
        skips = dict(counters["inductor"]).get("cudagraph_skips", 0)
    except Exception:
        pass
    return f"cudagraph skips: {skips}"


def normwise(name, got, want, rtol=2e-2):
    """The largest error relative to the largest value of `want` (the
    gradients are sums over a key's or a query's pairs)."""
    error = (got.float() - want.float()).abs().max().item()
    scale = want.float().abs().max().item()
    assert error <= rtol * scale, f"{name}: max |error| {error:.3g}, max |want| {scale:.3g}"
    return error / scale


@check
def backward():
    """The GPU backward through attnc.torch: dq, dk, dv and the ALiBi
    slopes' gradient (GQA 8:2, odd N) against autograd through the float32
    definition; then through torch.compile, matching eager."""
    path = str(EXAMPLES / "gqa_causal_softcap.attn")
    q, k, v = qkv(Hkv=2, n=333, seed=40)
    for t in (q, k, v):
        t.requires_grad_()
    out = at.attention(q, k, v, path, enable_gqa=True, cap=50.0)
    g = randn(*out.shape, seed=41)
    out.backward(g)
    got = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    want_out, _ = reference(q, k, v, lambda s, b, h, i, j: 50.0 * torch.tanh(s / 50.0), causal)
    want_out.backward(g.float())
    worst = max(normwise(n, a, t.grad) for n, a, t in zip("qkv", got, (q, k, v)))
    # A learnable param: the slopes' gradient.
    path = str(EXAMPLES / "alibi_causal.attn")
    q, k, v = (t.detach().requires_grad_() for t in qkv(n=200, seed=42))
    slopes = SLOPES.clone().requires_grad_()
    out = at.attention(q, k, v, path, slopes=slopes)
    out.backward(g[:, :, :200])
    got_slopes = slopes.grad.clone()
    slopes.grad = None
    want_out, _ = reference(q, k, v, lambda s, b, h, i, j: s + slopes[h] * (j - i), causal)
    want_out.backward(g[:, :, :200].float())
    worst = max(worst, normwise("dslopes", got_slopes, slopes.grad))
    if at.CUSTOM_OP is None:
        return f"eager only (no custom op); worst {worst:.3g} of the largest"
    from torch import _dynamo
    _dynamo.reset()
    module = Block(path)
    q, k, v = module_inputs()
    q.requires_grad_()
    module(q, k, v).float().sum().backward()
    eager = (q.grad.clone(), module.scale.grad.clone())
    q.grad, module.scale.grad = None, None
    torch.compile(module)(q, k, v).float().sum().backward()
    # dq's atomics add in any order: compiled and eager agree to bf16's
    # rounding, not bit for bit.
    normwise("compiled dq", q.grad, eager[0], rtol=1e-2)
    normwise("compiled dscale", module.scale.grad, eager[1], rtol=1e-2)
    return f"worst {worst:.3g} of the largest; compiled matches eager"


@check
def cpu_backward_through_op():
    """On the CPU the custom op's autograd returns gradients (q, k, v and
    learnable ALiBi slopes), eagerly and in a compiled training graph,
    against torch's autograd of the float64 definition."""
    if at.CUSTOM_OP is None:
        raise Skip("no custom op")
    g = torch.Generator().manual_seed(50)
    leaves = [torch.randn(s, generator=g) for s in
              ((2, 4, 40, 16), (2, 2, 40, 16), (2, 2, 40, 8))]
    slopes = torch.rand(4, generator=g) + 0.1
    dout = torch.randn(2, 4, 40, 8, generator=g)
    path = str(EXAMPLES / "alibi_causal.attn")

    def run(q, k, v, slopes):
        return at.attention(q, k, v, path, enable_gqa=True, slopes=slopes)

    want = [x.double().requires_grad_() for x in (*leaves, slopes)]
    q64, k64, v64, slopes64 = want
    k64, v64 = (x.repeat_interleave(2, 1) for x in (k64, v64))
    s = q64 @ k64.transpose(-1, -2) / 4.0
    i, j = torch.arange(40).view(-1, 1), torch.arange(40).view(1, -1)
    s = (s + slopes64.view(1, -1, 1, 1) * (j - i)).masked_fill(j > i,
                                                             float("-inf"))
    ((s.softmax(-1) @ v64) * dout.double()).sum().backward()
    for name, fn in (("eager", run), ("compiled", torch.compile(run))):
        xs = [x.clone().requires_grad_() for x in (*leaves, slopes)]
        (fn(*xs) * dout).sum().backward()
        for n, x, w in zip(("dq", "dk", "dv", "dslopes"), xs, want):
            close(f"{name} {n}", x.grad, w.grad, atol=2e-5, rtol=2e-4)
    return "eager and compiled match"


def main():
    global SLOPES, at
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=None)
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    if args.list:
        print("\n".join(c.__name__ for c in CHECKS))
        return 0
    if not torch.cuda.is_available():
        print("FAIL cuda: torch sees no CUDA device")
        return 1
    os.environ.setdefault("ATTNC_CACHE_DIR", tempfile.mkdtemp())
    import attnc
    import attnc.torch
    at = attnc.torch
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, "
          f"attnc {attnc.version()} ({attnc._lib.lib._name}), target "
          f"{at._target(torch.device('cuda'))}, custom op: "
          f"{at.CUSTOM_OP is not None}", flush=True)
    SLOPES = 2.0 ** -torch.arange(1, H + 1, device="cuda", dtype=torch.float32)
    wanted = set(args.only.split(",")) if args.only else None
    passed = failed = 0
    for fn in CHECKS:
        if wanted and fn.__name__ not in wanted:
            continue
        start = time.perf_counter()
        try:
            detail = fn()
        except Skip as e:
            print(f"SKIP {fn.__name__}: {e}", flush=True)
            continue
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
            continue
        passed += 1
        seconds = time.perf_counter() - start
        print(f"PASS {fn.__name__} ({seconds:.1f} s)"
              + (f": {detail}" if detail else ""), flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
