"""The backward: attnc's GPU backward beside FlexAttention's and SDPA's
(FlashAttention-2, cuDNN), in one run on one GPU.

usage (on the GPU machine, from the project root):
    python3 bench/gpu/backward.py [BIN_DIR] [--n 16384] [--variants dense,causal]

B = 1, H = 16, D = 128, bf16 (issue 25's shape). For each variant: the
peers' backward alone, timed as (forward + backward) - forward with
triton.testing.do_bench (median), flex compiled for the shape alone
(`torch.compile(flex_attention, dynamic=False)`, its BlockMask built once);
attnc's `Kernel::backward` timed by `attnc run --target=gpu --backward
--bench` in BIN_DIR (CUDA events, median of its own inputs; the forward's
out and lse given, as an autograd backward has them; no param gradients,
as flex's score_mods here capture none). TFLOP/s at 10 * D
flops per kept pair (the backward's five products).
"""
import argparse, os, re, subprocess, sys

import torch
import triton.testing as tt
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention
import torch.nn.functional as F

H, D = 16, 128


def causal(b, h, q, kv): return q >= kv
def window(b, h, q, kv): return (q >= kv) & (q - kv < 1024)


def alibi(score, b, h, q, kv):
    slope = torch.exp2(-((h + 1) * 8.0 / H))
    return score + slope * (kv - q)


def softcap(score, b, h, q, kv): return 30.0 * torch.tanh(score / 30.0)


VARIANTS = [
    # name, attnc file, mask_mod, score_mod, SDPA is_causal (None: n/a)
    ("dense", "examples/dense.attn", None, None, False),
    ("causal", "examples/causal.attn", causal, None, True),
    ("sliding window 1024", "examples/sliding_window.attn", window, None, None),
    ("alibi + causal", "examples/alibi_causal.attn", causal, alibi, None),
    ("softcap 30 + causal", "bench/gpu/variants/softcap_causal.attn", causal, softcap, None),
]


def kept_pairs(name, n):
    if name == "dense":
        return n * n
    if name.startswith("sliding"):
        return sum(min(i + 1, 1024) for i in range(n))
    return n * (n + 1) // 2


def time_backward(fwd, q, k, v):
    """Median ms of forward + backward minus forward."""
    g = torch.randn_like(q)

    def both():
        for t in (q, k, v):
            t.grad = None
        fwd(q, k, v).backward(g)

    with torch.no_grad():
        forward = tt.do_bench(lambda: fwd(q, k, v), return_mode="median")
    return tt.do_bench(both, return_mode="median") - forward


def attnc_backward(bin_dir, path, n):
    out = subprocess.run([os.path.join(bin_dir, "attnc"), "run", path, "--target=gpu", "--backward", "--bench",
                          f"--shape=B=1,H={H},N={n},D={D}"], capture_output=True, text=True, timeout=300)
    m = re.search(r"backward median ([0-9.]+) ms", out.stdout)
    if not m:
        return None, (out.stdout + out.stderr).strip().splitlines()[-1:]
    return float(m.group(1)), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir", nargs="?", default="build/bin")
    ap.add_argument("--n", default="16384")
    ap.add_argument("--variants", default=",".join(v[0].split()[0] for v in VARIANTS))
    args = ap.parse_args()
    chosen = args.variants.split(",")
    print(f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, B=1 H={H} D={D} bf16; "
          "backward TFLOP/s (10 * D flops per kept pair)")
    print("| variant | N | attnc | flex | FA2 | cuDNN | attnc / flex | attnc / FA2 | attnc / cuDNN |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in map(int, args.n.split(",")):
        for name, path, mask_mod, score_mod, is_causal in VARIANTS:
            if name.split()[0] not in chosen:
                continue
            flops = 10.0 * D * H * kept_pairs(name, n)
            tf = lambda ms: flops / (ms * 1e-3) / 1e12 if ms else None
            q, k, v = (torch.randn(1, H, n, D, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                       for _ in range(3))
            torch._dynamo.reset()
            block_mask = create_block_mask(mask_mod, 1, 1, n, n) if mask_mod else None
            flex = torch.compile(flex_attention, dynamic=False)
            peers = {"flex": time_backward(lambda q, k, v: flex(q, k, v, score_mod=score_mod, block_mask=block_mask),
                                           q, k, v)}
            for label, backend in (("FA2", SDPBackend.FLASH_ATTENTION), ("cuDNN", SDPBackend.CUDNN_ATTENTION)):
                peers[label] = None
                if is_causal is None:
                    continue
                def sdpa(q, k, v, backend=backend):
                    with sdpa_kernel(backend):
                        return F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
                try:
                    peers[label] = time_backward(sdpa, q, k, v)
                except RuntimeError as e:
                    print(f"  ({label} failed: {str(e).splitlines()[0]})", file=sys.stderr)
            ms, err = attnc_backward(args.bin_dir, path, n)
            if err:
                print(f"  (attnc failed: {err})", file=sys.stderr)
            a = tf(ms)
            cell = lambda x: f"{x:.0f}" if x else "-"
            ratio = lambda p: f"{a / tf(peers[p]):.2f}x" if a and peers[p] else "-"
            print(f"| {name} | {n} | {cell(a)} | {cell(tf(peers['flex']))} | {cell(tf(peers['FA2']))} | "
                  f"{cell(tf(peers['cuDNN']))} | {ratio('flex')} | {ratio('FA2')} | {ratio('cuDNN')} |", flush=True)


if __name__ == "__main__":
    main()
