"""Decode: attnc's split_kv kernels beside cuDNN, FlashAttention-2 (SDPA
backends) and flex_attention, in one run on one GPU.

usage (on the GPU machine, from the project root):
    python3 bench/gpu/decode.py BIN_DIR [--out FILE.md] [--family split_kv]

Shapes: bf16, H = 32 query heads, Hkv = 8 (GQA 4), D = 128, the rows of
issue 24's table (B, N queries, M keys). attnc: `attnc run --target=gpu
--bench` (CUDA events, L2 evicted before each call); the peers with
triton.testing.do_bench (median), SDPA with enable_gqa, flex compiled per
shape with dynamic=False (as its docs advise for benchmarking), dense. Also
the bandwidth of a device-to-device copy in the same run, and each call's
rate in bytes of K/V read per second.
"""
import argparse, os, re, subprocess, tempfile

import torch
import torch.nn.functional as F
import triton.testing as tt
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import flex_attention

H, HKV, D = 32, 8, 128
SHAPES = [(16, 1, 32768), (1, 1, 131072), (64, 1, 4096), (16, 4, 32768), (8, 8, 16384)]

def bench(fn):
    return tt.do_bench(fn, warmup=25, rep=200, return_mode="median")

def run_attnc(bin_dir, B, N, M, cache, family):
    env = dict(os.environ, ATTNC_CACHE_DIR=cache)
    cmd = [f"{bin_dir}/attnc", "run", "examples/dense.attn", "--target=gpu", "--bench", "--repeats", "50",
           "--shape", f"B={B},H={H},Hkv={HKV},N={N},M={M},D={D}"]
    if family:
        cmd.append(f"--family={family}")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stdout + out.stderr)
    return float(re.search(r"bench: median ([0-9.]+) ms", out.stdout).group(1))

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin_dir")
    parser.add_argument("--out", default=None)
    parser.add_argument("--family", default=None, help="force attnc's kernel family")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    big = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    copy_ms = bench(lambda: big.clone())
    copy_tbs = 2 * big.numel() / (copy_ms * 1e-3) * 1e-12
    print(f"device-to-device copy: {copy_tbs:.2f} TB/s (read + write)")
    del big
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for B, N, M in SHAPES:
            q = torch.randn(B, H, N, D, device="cuda", dtype=torch.bfloat16)
            k, v = (torch.randn(B, HKV, M, D, device="cuda", dtype=torch.bfloat16) for _ in range(2))
            kv_bytes = 2 * B * HKV * M * D * 2
            row = {"shape": f"B={B}, N={N}, M={M}", "kv_bytes": kv_bytes}
            run_attnc(args.bin_dir, B, N, M, cache, args.family)  # compile into the cache
            row["attnc"] = run_attnc(args.bin_dir, B, N, M, cache, args.family)
            for backend, key in ((SDPBackend.CUDNN_ATTENTION, "cudnn"), (SDPBackend.FLASH_ATTENTION, "fa2")):
                try:
                    with sdpa_kernel(backend):
                        row[key] = bench(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
                except RuntimeError as e:
                    print(f"{key}: {str(e).splitlines()[0]}")
                    row[key] = None
            torch._dynamo.reset()
            flex = torch.compile(flex_attention, dynamic=False)
            row["flex"] = bench(lambda: flex(q, k, v, enable_gqa=True))
            rows.append(row)
            del q, k, v
            torch.cuda.empty_cache()
            print(row, flush=True)
    fmt = lambda x: "-" if x is None else f"{x:.3f}"
    ratio = lambda peer, a: "-" if peer is None else f"{peer / a:.2f}x"
    lines = [f"Copy bandwidth in the same run: {copy_tbs:.2f} TB/s (read + write).", "",
             "| shape | attnc ms | cuDNN ms | FA2 ms | flex ms | attnc vs cuDNN | vs FA2 | vs flex "
             "| attnc K/V TB/s | cuDNN K/V TB/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tbs = lambda ms: "-" if ms is None else f"{r['kv_bytes'] / (ms * 1e-3) * 1e-12:.2f}"
        lines.append(f"| {r['shape']} | {fmt(r['attnc'])} | {fmt(r['cudnn'])} | {fmt(r['fa2'])} | {fmt(r['flex'])} "
                     f"| {ratio(r['cudnn'], r['attnc'])} | {ratio(r['fa2'], r['attnc'])} | {ratio(r['flex'], r['attnc'])} "
                     f"| {tbs(r['attnc'])} | {tbs(r['cudnn'])} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")

if __name__ == "__main__":
    main()
