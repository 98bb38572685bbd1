#!/usr/bin/env bash
# The AOT path on the GPU: for a few variants, `attnc run --check --save`
# (the JIT against the float64 reference, inputs and outputs saved), then
# `attnc --emit=cuda -o K.cu`, nvcc builds it with test/gpu/aot_main.cu, and
# the entry point runs on the saved inputs; its out and lse must match the
# JIT's, and a wrong head dim must be refused.
#
# usage (on a machine with a GPU and nvcc, from the project root):
#   test/gpu/aot_check.sh BIN_DIR      exit 0 when every check passed
set -uo pipefail
bin=${1:?usage: test/gpu/aot_check.sh BIN_DIR}
work=$(mktemp -d)
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
arch=$("$bin/attnc" run examples/dense.attn --target=gpu --shape N=1,D=64 2>/dev/null | sed -n 's/.*, \(sm_[0-9a-z]*\)$/\1/p')
pass=0; fail=0
# name:sizes[:family] (split_kv: the decode kernels, their combine included).
for run in alibi_causal:N=300,M=517 document:N=300,M=300 sigmoid:N=300,M=517 sliding_window:N=777,M=129 moba:N=300,M=517 \
           alibi_causal:N=3,M=5000:split_kv gated_output:N=1,M=3001:split_kv; do
  IFS=: read -r name sizes family <<<"$run"
  dir=$work/$name${family:+_$family}
  shape="B=2,H=4,Hkv=2,$sizes,D=128"
  flag=${family:+--family=$family}
  if ! "$bin/attnc" run "examples/$name.attn" --target=gpu --check --save "$dir" --shape "$shape" $flag >"$dir.log" 2>&1 ||
     ! "$bin/attnc" "examples/$name.attn" --target="$arch" --head-dim=128 --emit=cuda $flag -o "$dir/k.cu" >>"$dir.log" 2>&1; then
    fail=$((fail+1)); echo "AOT FAIL $name (JIT run or emit)"; tail -3 "$dir.log"; continue
  fi
  # The call and the params' element types, read off the header's prototype.
  read -r call types < <(python3 - "$dir/k.h" <<'PY'
import re, sys
proto = re.search(r"int (\w+_cuda)\((.*?)\);", open(sys.argv[1]).read(), re.S)
args, types, index = [], "", 0
for arg in [a.strip() for a in proto.group(2).split(",")][4:]:
    name = re.sub(r"/\*.*?\*/", "", arg).split()[-1].lstrip("*")
    if name in ("status", "stream"):
        continue
    if name == "lse":
        args.append("&lse"); continue
    rank = re.match(r"attnc_memref(\d)", arg)
    ctype = re.search(r"/\* (\w+) \*/", arg)
    if rank:
        args.append(f"param<attnc_memref{rank.group(1)}>({index})")
        types += {"float": "f", "int32_t": "i", "int64_t": "l"}.get(ctype.group(1), "?")
    else:
        args.append(f"scalar({index})"); types += "s"
    index += 1
call = f"{proto.group(1)}(&q, &k, &v, &out, " + "".join(a + ", " for a in args) + "&status, stream)"
print(call.replace(" ", ""), types or "-")
PY
)
  printf '#include "k.h"\n#define AOT_CALL %s\n#define PARAM_TYPES "%s"\n' "$call" "$types" > "$dir/aot_call.h"
  # -gencode: nvcc's -arch=sm_90a also runs a plain sm_90 pass, which
  # rejects wgmma and setmaxnreg.
  if ! "$nvcc" -std=c++17 -O2 -gencode=arch=compute_${arch#sm_},code=$arch -I "$dir" test/gpu/aot_main.cu "$dir/k.cu" -o "$dir/aot" >>"$dir.log" 2>&1; then
    fail=$((fail+1)); echo "AOT FAIL $name (nvcc)"; grep -m3 error "$dir.log"; continue
  fi
  if out=$("$dir/aot" "$dir" 2>&1); then pass=$((pass+1)); else fail=$((fail+1)); echo "AOT FAIL $name: $out"; fi
done
echo "AOT entry points: $pass passed, $fail failed"
[ $fail -eq 0 ]
