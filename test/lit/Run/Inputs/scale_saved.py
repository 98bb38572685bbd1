"""Multiplies one tensor of a directory `attnc run --save` wrote by a factor
(python3 scale_saved.py DIR NAME FACTOR), so that a test can tell inputs
read back by --load from the random ones."""
import os, struct, sys

d, name, factor = sys.argv[1], sys.argv[2], float(sys.argv[3])
path = os.path.join(d, name + ".f64")
raw = open(path, "rb").read()
values = struct.unpack(f"<{len(raw) // 8}d", raw)
open(path, "wb").write(struct.pack(f"<{len(values)}d", *(x * factor for x in values)))
