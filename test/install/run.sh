#!/usr/bin/env bash
# Installs attnc from BUILD into a fresh prefix, then configures, builds and
# runs test/install/consumer against that prefix alone; then packs the
# Debian package (cpack -G DEB), unpacks it with dpkg -x into another
# prefix and runs the packaged attnc, its library through the Python
# package, and the consumer against the unpacked /usr.
#   usage: test/install/run.sh BUILD     exit 0 when all of it worked
set -euo pipefail
build=$(cd "${1:?usage: test/install/run.sh BUILD}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ATTNC_CACHE_DIR=$work/cache

consume() { # PREFIX NAME: the consumer, built against PREFIX
  cmake -G Ninja -S "$src/test/install/consumer" -B "$work/$2" \
    -DCMAKE_PREFIX_PATH="$1" -DCMAKE_BUILD_TYPE=Release >"$work/$2.log" 2>&1 ||
    { cat "$work/$2.log"; echo "install: FAIL: the consumer does not configure against $1"; exit 1; }
  ninja -C "$work/$2" >>"$work/$2.log" 2>&1 ||
    { cat "$work/$2.log"; echo "install: FAIL: the consumer does not build against $1"; exit 1; }
  "$work/$2/consumer"
}

cmake --install "$build" --prefix "$work/prefix" >/dev/null
for f in bin/attnc bin/attn-opt lib/libattnc.so.0 include/attnc/attnc.h include/attnc/attnc_c.h \
         include/attnc/flash_fwd.cuh include/attnc/cpu_run.h lib/cmake/attnc/attncConfig.cmake \
         lib/python3/dist-packages/attnc/__init__.py share/attnc/examples/causal.attn; do
  [ -e "$work/prefix/$f" ] || { echo "install: FAIL: $f is not installed"; exit 1; }
done
[ "$(readlink "$work/prefix/lib/libattnc.so.0")" = "libattnc.so.0.1.0" ] ||
  { echo "install: FAIL: libattnc.so.0 is not the versioned library"; exit 1; }
out=$(consume "$work/prefix" consumer) || { echo "$out"; exit 1; }
echo "install: $out"

(cd "$build" && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; echo "deb: FAIL: cpack"; exit 1; }
deb=$(ls "$work"/deb/attnc_*.deb)
dpkg-deb -f "$deb" Depends | grep -q 'libmlir-22' || { echo "deb: FAIL: no dependency on libmlir-22"; exit 1; }
dpkg -x "$deb" "$work/root"
"$work/root/usr/bin/attnc" run "$work/root/usr/share/attnc/examples/alibi_causal.attn" --check \
  --shape B=1,H=2,N=100,D=32 | grep -q 'check: PASS' || { echo "deb: FAIL: the packaged attnc run"; exit 1; }
PYTHONPATH="$work/root/usr/lib/python3/dist-packages" python3 -c \
  'import attnc, sys; sys.exit(0 if attnc.version() else 1)' || { echo "deb: FAIL: the packaged Python package"; exit 1; }
out=$(consume "$work/root/usr" deb-consumer) || { echo "$out"; exit 1; }
echo "deb: $(basename "$deb"): attnc run passed; $out"
