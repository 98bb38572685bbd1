"""MoBA (dynamic block selection, issue 28) on the GPU: attnc's one call
(pooling, top-k selection and the attention, bench/gpu/variants/moba_64_8.attn)
beside the two-step way a FlexAttention user runs it today, and dense causal
attention (SDPA's FlashAttention-2 and cuDNN), in one run on one GPU.

usage (on the GPU machine, from the project root):
    ATTNC_LIBRARY=.device/lib/libattnc.so.0 python3 bench/gpu/moba.py [--n 32768,65536]

Shape: B = 1, H = 16, D = 128, bf16, N = M, blocks of 64 keys, top-k 8
(the current block always kept), causal. The flex pipeline, as its users
write it: mean-pooled keys, gates q . mean in f32 (torch matmul), blocks
after the query's own set to -inf and its own to +inf, topk, a keep tensor
[B, H, N, blocks] (bool), `create_block_mask` (compiled, `_compile=True`)
with a mask_mod that reads keep, then `flex_attention` compiled for that
shape alone (dynamic=False); its time is the whole pipeline, and the
attention alone is shown beside it. Times: medians of CUDA-event timed calls
(the pipeline runs for seconds at 64k, so few of them).

Inputs have locality, as a trained model's queries do (with independent
random queries every query tile would keep most blocks, and no block-sparse
kernel could skip work): q in each run of 256 tokens is one random vector
plus 0.3x noise; k and v are random. The kept tiles' density is printed
(flex's BlockMask.sparsity(); attnc walks the same 128-row tiles' union).
"""
import argparse, os, sys, time

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from timing import timed

B, H, D, BLOCK, TOPK = 1, 16, 128, 64, 8
VARIANT = "bench/gpu/variants/moba_64_8.attn"


def inputs(n, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    base = torch.randn(B, H, (n + 255) // 256, D, device="cuda", generator=g)
    q = base.repeat_interleave(256, dim=2)[:, :, :n] + 0.3 * torch.randn(B, H, n, D, device="cuda", generator=g)
    k = torch.randn(B, H, n, D, device="cuda", generator=g)
    v = torch.randn(B, H, n, D, device="cuda", generator=g)
    return [t.to(torch.bfloat16).contiguous() for t in (q, k, v)]


def flex_selection(q, k):
    """The keep tensor [B, H, N, blocks] of the MoBA selection in PyTorch."""
    n = q.shape[2]
    blocks = (n + BLOCK - 1) // BLOCK
    kb = k.float().view(B, H, blocks, BLOCK, D).mean(3)  # n is a multiple of BLOCK
    gates = q.float() @ kb.transpose(-1, -2)  # [B, H, N, blocks]
    current = torch.arange(n, device="cuda")[:, None] // BLOCK
    j = torch.arange(blocks, device="cuda")[None, :]
    gates = gates.masked_fill(j > current, float("-inf"))
    gates = gates.masked_fill(j == current, float("inf"))
    idx = gates.topk(min(TOPK, blocks), dim=-1).indices
    keep = torch.zeros(B, H, n, blocks, dtype=torch.bool, device="cuda")
    keep.scatter_(-1, idx, True)
    return keep & (j <= current)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="32768,65536")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    import attnc
    print(f"# MoBA, B={B} H={H} D={D} bf16, block {BLOCK}, top-k {TOPK}, causal; "
          f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    kernel = attnc.Compiler().compile_file(VARIANT, target="sm_90a", dtype="bf16", head_dim=D)
    flex = torch.compile(flex_attention, dynamic=False)
    rows = []
    for n in [int(x) for x in args.n.split(",")]:
        q, k, v = inputs(n)
        out = torch.empty_like(q)
        kernel(q, k, v, out=out)  # loads the module; synchronized, reports faults
        attnc_ms = timed(lambda: kernel(q, k, v, out=out, synchronize=False), args.reps * 4)

        state = {}

        def pipeline():
            keep = flex_selection(q, k)

            def mask_mod(b, h, qi, kv):
                return keep[b, h, qi, kv // BLOCK] & (qi >= kv)

            state["mask"] = create_block_mask(mask_mod, B, H, n, n, device="cuda", _compile=True)
            state["out"] = flex(q, k, v, block_mask=state["mask"])

        pipeline_ms = timed(pipeline, args.reps)
        mask = state["mask"]
        flex_ms = timed(lambda: flex(q, k, v, block_mask=mask), args.reps * 4)
        diff = (state["out"].float() - out.float()).abs()
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            fa2_ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), args.reps * 4)
        with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
            cudnn_ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), args.reps * 4)
        rows.append((n, attnc_ms, pipeline_ms, flex_ms, fa2_ms, cudnn_ms, 100 - mask.sparsity(),
                     float(diff.max()), float((diff > 0.05).float().mean()) * 100))
        del state, mask
        torch.cuda.empty_cache()
    print("| N | attnc ms (select + attention) | flex pipeline ms | flex attention alone ms | FA2 causal dense ms "
          "| cuDNN causal dense ms | vs flex pipeline | vs FA2 | vs cuDNN | kept tiles % | max diff | elems > 0.05 % |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, a, p, f, fa2, cud, dens, md, frac in rows:
        print(f"| {n} | {a:.3f} | {p:.1f} | {f:.3f} | {fa2:.3f} | {cud:.3f} | **{p / a:.1f}x** | {fa2 / a:.2f}x "
              f"| {cud / a:.2f}x | {dens:.1f} | {md:.3f} | {frac:.3f} |")


if __name__ == "__main__":
    main()
