"""attnc's GPU kernels against PyTorch's flex_attention on the same inputs.

For every example that flex_attention can express (a score_mod and/or a
mask_mod; not the sigmoid normalizer or output modifiers), at shapes that are
not multiples of the tiles, N != M and GQA: `attnc run --target=gpu --save`
runs the kernel on random inputs and writes them with its outputs; this
script feeds the same inputs to flex_attention in float32 (eager, PyTorch's
own implementation) and compares out and lse with the bf16 tolerance the
float64 check uses (atol 1e-2 + rtol 4e-2 * |flex|). Fully masked rows must
be 0 with lse -inf in both.

usage (on a machine with a GPU and PyTorch, from the project root):
    python3 test/gpu/flex_check.py BIN_DIR
Exit status 0 when every comparison passed.
"""
import os, subprocess, sys, tempfile

import numpy as np
import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

ATOL, RTOL = 1e-2, 4e-2


def causal(b, h, q, kv):
    return q >= kv


# example -> (score_mod(P), mask_mod(P)) built from the saved params P.
CASES = {
    "dense": lambda P: (None, None),
    "causal": lambda P: (None, causal),
    "alibi_causal": lambda P: (
        lambda s, b, h, q, kv: s + P["slopes"][h] * (kv - q), causal),
    "softcap": lambda P: (
        lambda s, b, h, q, kv: P["cap"] * torch.tanh(s / P["cap"]), None),
    "gqa_causal_softcap": lambda P: (
        lambda s, b, h, q, kv: P["cap"] * torch.tanh(s / P["cap"]), causal),
    "sliding_window": lambda P: (
        None, lambda b, h, q, kv: (q >= kv) & (q - kv < P["window"])),
    "prefix_lm": lambda P: (
        None, lambda b, h, q, kv: (kv < P["prefix"]) | (q >= kv)),
    "chunked_causal": lambda P: (
        None, lambda b, h, q, kv: (q // P["chunk"] == kv // P["chunk"]) & (q >= kv)),
    "document": lambda P: (
        None, lambda b, h, q, kv: (P["doc"][q] == P["doc"][kv]) & (q >= kv)),
    "key_padding": lambda P: (
        lambda s, b, h, q, kv: s * (1.0 / P["temperature"]),
        lambda b, h, q, kv: (kv < P["len"][b]) & (q >= kv)),
    "block_sparse": lambda P: (
        None, lambda b, h, q, kv: P["map"][h, q // 128, kv // 128] != 0),
    "tensor_mask": lambda P: (
        None, lambda b, h, q, kv: P["allowed"][q, kv] != 0),
    "neighborhood_2d": lambda P: (
        None, lambda b, h, q, kv: ((q // P["width"] - kv // P["width"]).abs() <= 3)
        & ((q % P["width"] - kv % P["width"]).abs() <= 3)),
    "relative_bias": lambda P: (
        lambda s, b, h, q, kv: s + P["table"][
            h, torch.clamp(kv - q, -P["max_distance"], P["max_distance"]) + P["max_distance"]],
        causal),
    "sinks": lambda P: (None, causal),
    "quiet_softmax": lambda P: (None, None),
}

# Sinks, which flex_attention has not: its output and lse without the sink,
# then the sink's term added (o * exp(lse) / (exp(lse) + exp(sink)), lse
# log(exp(lse) + exp(sink))): the same numbers by another route.
SINKS = {
    "sinks": lambda P, H: P["sinks"],
    "quiet_softmax": lambda P, H: torch.zeros(H, device="cuda"),
}

SHAPES = [
    "B=2,H=8,Hkv=2,N=300,M=517,D=128",  # odd sizes, N != M, GQA 8:2
    "B=1,H=3,N=1,M=700,D=64",           # one query (decode)
    "B=1,H=4,N=777,M=129,D=128",        # N > M
]


def load(directory):
    tensors = {}
    with open(os.path.join(directory, "manifest.txt")) as manifest:
        for line in manifest:
            name, *dims = line.split()
            data = np.fromfile(os.path.join(directory, name + ".f64"), dtype=np.float64)
            tensors[name] = data.reshape([int(d) for d in dims]) if dims else data[0]
    return tensors


def to_param(value):
    if isinstance(value, np.ndarray):
        t = torch.from_numpy(value).cuda()
        integral = np.all(value == np.round(value))
        return t.to(torch.int64) if integral else t.to(torch.float32)
    return int(value) if float(value).is_integer() else float(value)


def compare(got, want):
    got, want = got.double(), want.double()
    both_inf = torch.isinf(got) & torch.isinf(want) & (torch.sign(got) == torch.sign(want))
    err = torch.where(both_inf, torch.zeros_like(got), (got - want).abs())
    bad = ~(err <= ATOL + RTOL * want.abs().nan_to_num(0, 0, 0)) | torch.isnan(got)
    return int(bad.sum()), float(err.nan_to_num(float("inf")).max())


def check(bin_dir, example, shape, directory):
    out = subprocess.run([f"{bin_dir}/attnc", "run", f"examples/{example}.attn", "--target=gpu",
                          "--shape", shape, "--ids", "5", "--seed", "7", "--save", directory],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return f"attnc failed: {(out.stdout + out.stderr).strip().splitlines()[-1]}"
    T = load(directory)
    params = {k[len("param."):]: to_param(v) for k, v in T.items() if k.startswith("param.")}
    score_mod, mask_mod = CASES[example](params)
    q, k, v = (torch.from_numpy(T[n]).cuda().float() for n in ("q", "k", "v"))
    B, H, N, _ = q.shape
    M = k.shape[2]
    block_mask = None
    if mask_mod is not None:
        block_mask = create_block_mask(mask_mod, B, H, N, M, device="cuda")
    o, lse = flex_attention(q, k, v, score_mod=score_mod, block_mask=block_mask,
                            enable_gqa=k.shape[1] != H, return_lse=True)
    if example in SINKS:
        sink = SINKS[example](params, H).float().view(1, H, 1)
        o = o * torch.sigmoid(lse - sink)[..., None]
        lse = torch.logaddexp(lse, sink)
    # flex's lse is in natural log units like attnc's; fully masked rows
    # are 0 with lse -inf in flex as well.
    bad_o, err_o = compare(torch.from_numpy(T["out"]).cuda(), o)
    bad_l, err_l = (0, 0.0)
    if "lse" in T:
        bad_l, err_l = compare(torch.from_numpy(T["lse"]).cuda(), lse)
    if bad_o or bad_l:
        return f"{bad_o} out and {bad_l} lse elements off (max err {err_o:.3g}, {err_l:.3g})"
    return None


def main():
    bin_dir = sys.argv[1] if len(sys.argv) > 1 else "build/bin"
    passed = failed = 0
    for example in sorted(CASES):
        for shape in SHAPES:
            if example == "document":
                # doc ids have shape [N]: keys past N would read out of bounds.
                shape = ",".join(p for p in shape.split(",") if not p.startswith("M="))
            with tempfile.TemporaryDirectory() as directory:
                problem = check(bin_dir, example, shape, directory)
            if problem:
                failed += 1
                print(f"FAIL {example} {shape}: {problem}")
            else:
                passed += 1
    print(f"flex_attention comparisons: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
