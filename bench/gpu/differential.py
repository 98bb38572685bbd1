"""Differential attention (issue 28) on the GPU: attnc's one kernel
(examples/differential.attn: both branches in one pass over K and V) beside
the way a FlexAttention or SDPA user computes it today, two attention calls
and the lambda-weighted difference, in one run on one GPU.

usage (on the GPU machine, from the project root):
    ATTNC_LIBRARY=.device/bin/libattnc.so.0 python3 bench/gpu/differential.py [--n 4096,16384]

Shape: B * N = 32768 tokens, H = 16, D = 128 for q and k (64 per branch, the
Differential Transformer's split), Dv = 128, bf16, causal, lambda = 0.8.
The branches' q and k halves are given to the peers as contiguous tensors
(as the model's projections make them); v is shared. Flex: one
torch.compile'd function (dynamic=False, compiled for each shape) that makes
both flex_attention calls and the difference, with a causal BlockMask built
once outside the timing. SDPA: two calls (the backend SDPA picks; FA2 and
cuDNN where they take Dv != D) and the difference. Times: medians of
CUDA-event timed calls.
"""
import argparse, os, sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from timing import timed

TOKENS, H, D, DV, LAMBDA = 32768, 16, 128, 128, 0.8
VARIANT = "examples/differential.attn"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="2048,8192,32768")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    import attnc
    print(f"# differential attention, {TOKENS} tokens, H={H} D={D} (2 x {D // 2}) Dv={DV} bf16 causal; "
          f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    kernel = attnc.Compiler().compile_file(VARIANT, target="sm_90a", dtype="bf16", head_dim=D)
    scale = (D // 2) ** -0.5
    rows = []
    for n in [int(x) for x in args.n.split(",")]:
        b = max(1, TOKENS // n)
        g = torch.Generator(device="cuda").manual_seed(n)
        q, k = (torch.randn(b, H, n, D, device="cuda", generator=g).bfloat16() for _ in range(2))
        v = torch.randn(b, H, n, DV, device="cuda", generator=g).bfloat16()
        q1, q2 = (x.contiguous() for x in q.chunk(2, dim=-1))
        k1, k2 = (x.contiguous() for x in k.chunk(2, dim=-1))
        out = torch.empty_like(v)
        kernel(q, k, v, out=out)  # loads the module; synchronized, reports faults
        attnc_ms = timed(lambda: kernel(q, k, v, out=out, synchronize=False), args.reps, warmups=2)

        mask = create_block_mask(lambda b_, h_, i, j: i >= j, None, None, n, n, device="cuda")
        # The best a flex user writes: both calls and the difference, compiled
        # together for this shape.
        flex = torch.compile(lambda: flex_attention(q1, k1, v, block_mask=mask, scale=scale) -
                             LAMBDA * flex_attention(q2, k2, v, block_mask=mask, scale=scale), dynamic=False)
        flex_out = flex()
        flex_ms = timed(flex, args.reps, warmups=2)
        diff = (flex_out.float() - out.float()).abs()

        def sdpa(backend):
            def run():
                with sdpa_kernel(backend):
                    return (F.scaled_dot_product_attention(q1, k1, v, is_causal=True, scale=scale) -
                            LAMBDA * F.scaled_dot_product_attention(q2, k2, v, is_causal=True, scale=scale))
            try:
                run()
                return timed(run, args.reps, warmups=2)
            except RuntimeError:
                return float("nan")  # the backend does not take this shape

        sdpa_ms = {name: sdpa(backend) for name, backend in
                   (("fa2", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION),
                    ("efficient", SDPBackend.EFFICIENT_ATTENTION))}
        rows.append((b, n, attnc_ms, flex_ms, sdpa_ms, float(diff.max())))
        del flex, mask
        torch.cuda.empty_cache()
    print("| B | N | attnc ms | 2 x flex ms | 2 x FA2 ms | 2 x cuDNN ms | 2 x mem-efficient ms | vs flex "
          "| vs FA2 | vs cuDNN | vs mem-efficient | max diff vs flex |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for b, n, a, f, s, md in rows:
        ratio = lambda t: "n/a" if t != t else f"{t / a:.2f}x"
        ms = lambda t: "n/a" if t != t else f"{t:.3f}"
        print(f"| {b} | {n} | {a:.3f} | {f:.3f} | {ms(s['fa2'])} | {ms(s['cudnn'])} | {ms(s['efficient'])} "
              f"| **{f / a:.2f}x** | {ratio(s['fa2'])} | {ratio(s['cudnn'])} | {ratio(s['efficient'])} | {md:.4f} |")


if __name__ == "__main__":
    main()
