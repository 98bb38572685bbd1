"""Recomputes alibi_causal from the tensors `attnc run --save` wrote (plain
Python, float64) and compares with the saved out and lse."""
import math, os, struct, sys

d = sys.argv[1]
dims = {}
for line in open(os.path.join(d, "manifest.txt")):
    name, *shape = line.split()
    dims[name] = [int(x) for x in shape]

def load(name):
    raw = open(os.path.join(d, name + ".f64"), "rb").read()
    return struct.unpack(f"<{len(raw) // 8}d", raw)

q, k, v, out, lse, slopes = (load(n) for n in ("q", "k", "v", "out", "lse", "param.slopes"))
B, H, N, D = dims["q"]
M = dims["k"][2]
worst = 0.0
for h in range(H):
    for i in range(N):
        s = []
        for j in range(min(i + 1, M)):
            dot = sum(q[(h * N + i) * D + c] * k[(h * M + j) * D + c] for c in range(D))
            s.append(dot / math.sqrt(D) + slopes[h] * (j - i))
        m = max(s)
        w = [math.exp(x - m) for x in s]
        z = sum(w)
        worst = max(worst, abs(lse[h * N + i] - (m + math.log(z))))
        for c in range(D):
            o = sum(w[j] * v[(h * M + j) * D + c] for j in range(len(w))) / z
            worst = max(worst, abs(out[(h * N + i) * D + c] - o))
print(f"max abs difference {worst:.3g} {'OK' if worst < 1e-4 else 'TOO LARGE'}")
