#!/usr/bin/env bash
# On the GPU machine's CPU: attnc dense f32 at several vector widths and
# query tiles, to place the per-core gap against PyTorch.
set -uo pipefail
for width in 16 8; do
  for tile in 64 128; do
    printf "width %2s tile-q %3s: " $width $tile
    attnc run examples/dense.attn --shape B=1,H=16,N=4096,D=128 --bench --repeats=3 \
      --threads=16 --vector-width=$width --tile-q=$tile | tail -1
  done
done
printf "1 thread, width 16: "
attnc run examples/dense.attn --shape B=1,H=4,N=2048,D=128 --bench --repeats=3 --threads=1 | tail -1
printf "1 thread, width 8:  "
attnc run examples/dense.attn --shape B=1,H=4,N=2048,D=128 --bench --repeats=3 --threads=1 --vector-width=8 | tail -1
