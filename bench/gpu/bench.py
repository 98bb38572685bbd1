"""attnc's GPU kernels beside PyTorch's FlexAttention and SDPA (FlashAttention-2
and cuDNN backends), in one run on one GPU.

usage (on the GPU machine, from the project root):
    python3 bench/gpu/bench.py BIN_DIR [--out FILE.md] [--d 128] [--n 4096,16384]
        [--variants dense,causal] [--families sm90_wgmma,sm80_mma]

For each variant and N (default {4096, 16384}; B*N = 16384 tokens, H = 16,
D = 128, bf16, forward): the median time of attnc in each kernel family
(`attnc run --target=gpu --bench --family F`: CUDA events, timed as
triton.testing.do_bench times, L2 evicted before each call and the calls
queued), of flex_attention with its BlockMask, compiled for that shape alone
(`torch.compile(flex_attention, dynamic=False)` after a dynamo reset, as
FlexAttention's docs advise for benchmarking: one compile shared across
shapes recompiles with dynamic shapes and runs slower), and of
F.scaled_dot_product_attention where it applies
(triton.testing.do_bench, median); effective TFLOP/s over kept pairs (4 * D
* kept pairs per second, kept pairs counted from the mask); and each
compiler's compile time (attnc
cold with an empty cache and warm from it; torch.compile's first call minus a
steady call).
"""
import argparse, os, re, subprocess, tempfile, time

import torch
import torch.nn.functional as F
import triton.testing as tt
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

H, D, TOKENS = 16, 128, 16384
DOCS = 64

def causal(b, h, q, kv): return q >= kv
def window(b, h, q, kv): return (q >= kv) & (q - kv < 1024)
def prefix(b, h, q, kv): return (kv < 2048) | (q >= kv)

VARIANTS = [
    # name, attnc file, mask_mod (None: dense), score_mod, SDPA is_causal (None: n/a)
    ("dense", "examples/dense.attn", None, None, False),
    ("causal", "examples/causal.attn", causal, None, True),
    ("sliding window 1024", "examples/sliding_window.attn", window, None, None),
    ("alibi + causal", "examples/alibi_causal.attn", causal, "alibi", None),
    ("softcap 30 + causal", "bench/gpu/variants/softcap_causal.attn", causal, "softcap", None),
    ("document + causal", "examples/document.attn", "document", None, None),
    ("prefix-LM 2048", "examples/prefix_lm.attn", prefix, None, None),
]

def bench(fn):
    return tt.do_bench(fn, warmup=50, rep=300, return_mode="median")

def kept_pairs(mask_mod, B, N):
    if mask_mod is None:
        return B * H * N * N
    q = torch.arange(N, device="cuda")[:, None]
    total = 0
    for start in range(0, N, 2048):
        rows = q[start:start + 2048]
        kv = torch.arange(N, device="cuda")[None, :]
        total += int(mask_mod(0, 0, rows, kv).sum())
    return total * B * H

def run_attnc(bin_dir, path, B, N, cache, shape=None, family=None):
    """(median ms, compile ms) of `attnc run --bench`; `shape` overrides B, H, N, D."""
    env = dict(os.environ, ATTNC_CACHE_DIR=cache)
    cmd = [f"{bin_dir}/attnc", "run", path, "--target=gpu", "--bench", "--repeats", "30",
           "--ids", str(DOCS), "--shape", shape or f"B={B},H={H},N={N},D={D}"]
    if family:
        cmd.append(f"--family={family}")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    ms = float(re.search(r"bench: median ([0-9.]+) ms", out.stdout).group(1))
    compile_ms = float(re.search(r"compile: ([0-9.]+) ms", out.stdout).group(1))
    return ms, compile_ms

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin_dir")
    parser.add_argument("--out", default=None)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--n", default="4096,16384")
    parser.add_argument("--variants", default=None, help="names' first words, e.g. dense,causal")
    parser.add_argument("--families", default="sm90_wgmma,sm80_mma")
    args = parser.parse_args()
    global D
    D = args.d
    families = args.families.split(",")
    wanted = args.variants.split(",") if args.variants else None
    torch.manual_seed(0)
    torch._dynamo.config.recompile_limit = 1000
    torch._dynamo.config.cache_size_limit = 1000
    rows = []
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, D = {D}")
    for N in map(int, args.n.split(",")):
        B = TOKENS // N
        q, k, v = (torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        slopes = torch.rand(H, device="cuda") * -0.1
        docs = torch.sort(torch.randint(0, DOCS, (N,), device="cuda")).values
        for name, path, mask, score, sdpa_causal in VARIANTS:
            if wanted and name.split()[0] not in wanted:
                continue
            # flex compiled for this shape and variant alone (see the header).
            torch._dynamo.reset()
            flex = torch.compile(flex_attention, dynamic=False)
            mask_mod = (lambda b, h, qi, kv: (docs[qi] == docs[kv]) & (qi >= kv)) if mask == "document" else mask
            score_mod = None
            if score == "alibi":
                score_mod = lambda s, b, h, qi, kv: s + slopes[h] * (kv - qi)
            elif score == "softcap":
                score_mod = lambda s, b, h, qi, kv: 30.0 * torch.tanh(s / 30.0)
            pairs = kept_pairs(mask_mod, B, N)
            flops = 4.0 * D * pairs
            row = {"variant": name, "N": N, "B": B, "kept": pairs / (B * H * N * N)}
            # attnc, each family: cold compile (fresh cache), then the timed
            # run from the cache. The first family is the table's `attnc`.
            for i, family in enumerate(families):
                key = "attnc" if i == 0 else family
                with tempfile.TemporaryDirectory() as cache:
                    _, row[f"{key}_cold_ms"] = run_attnc(args.bin_dir, path, B, N, cache, family=family)
                    row[f"{key}_ms"], row[f"{key}_warm_ms"] = run_attnc(args.bin_dir, path, B, N, cache,
                                                                        family=family)
            # flex_attention, compiled, with its BlockMask.
            block_mask = create_block_mask(mask_mod, None, None, N, N) if mask_mod else None
            start = time.perf_counter()
            flex(q, k, v, score_mod=score_mod, block_mask=block_mask)
            torch.cuda.synchronize()
            first = (time.perf_counter() - start) * 1e3
            row["flex_ms"] = bench(lambda: flex(q, k, v, score_mod=score_mod, block_mask=block_mask))
            row["flex_compile_ms"] = first - row["flex_ms"]
            for backend, key in ((SDPBackend.FLASH_ATTENTION, "fa2_ms"), (SDPBackend.CUDNN_ATTENTION, "cudnn_ms")):
                if sdpa_causal is None:
                    row[key] = None
                    continue
                with sdpa_kernel(backend):
                    row[key] = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=sdpa_causal))
            for key in ["attnc", "flex", "fa2", "cudnn"] + families[1:]:
                ms = row[f"{key}_ms"]
                row[f"{key}_tflops"] = flops / (ms * 1e-3) * 1e-12 if ms else None
            rows.append(row)
            print(f"{name:22s} N={N:5d} attnc {row['attnc_ms']:.3f} ms {row['attnc_tflops']:.0f} TF/s | "
                  f"flex {row['flex_ms']:.3f} ms {row['flex_tflops']:.0f} TF/s"
                  + (f" | FA2 {row['fa2_tflops']:.0f} | cuDNN {row['cudnn_tflops']:.0f}" if row["fa2_ms"] else "")
                  + "".join(f" | {f} {row[f + '_tflops']:.0f}" for f in families[1:]),
                  flush=True)
    others = "".join(f" {f} TFLOP/s |" for f in families[1:])
    lines = [f"| variant | N | kept | attnc ms | attnc TFLOP/s |{others} flex TFLOP/s | FA2 TFLOP/s | cuDNN TFLOP/s "
             "| attnc/flex | attnc/FA2 | attnc/cuDNN | attnc compile cold / cached ms | flex compile ms |",
             "|---|---|---|---|---|" + "---|" * (len(families) - 1) + "---|---|---|---|---|---|---|---|"]
    fmt = lambda x: "-" if x is None else f"{x:.0f}"
    ratio = lambda a, b: "-" if b is None else f"{a / b:.2f}x"
    for r in rows:
        lines.append(f"| {r['variant']} | {r['N']} | {100 * r['kept']:.1f}% | {r['attnc_ms']:.3f} | {fmt(r['attnc_tflops'])} "
                     + "".join(f"| {fmt(r[f + '_tflops'])} " for f in families[1:])
                     + f"| {fmt(r['flex_tflops'])} | {fmt(r['fa2_tflops'])} | {fmt(r['cudnn_tflops'])} "
                     f"| {ratio(r['attnc_tflops'], r['flex_tflops'])} | {ratio(r['attnc_tflops'], r['fa2_tflops'])} "
                     f"| {ratio(r['attnc_tflops'], r['cudnn_tflops'])} | {r['attnc_cold_ms']:.0f} / {r['attnc_warm_ms']:.0f} "
                     f"| {r['flex_compile_ms']:.0f} |")
    table = f"attnc = {families[0]}, D = {D}\n\n" + "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")

if __name__ == "__main__":
    main()
