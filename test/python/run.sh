#!/usr/bin/env bash
# The Python package's tests (test/python, pytest) with the first Python
# that has pytest and numpy; exit 77 (skipped) when none has them.
set -uo pipefail
cd "$(dirname "$0")"
for py in ${ATTNC_PYTHON:-} python3 /usr/bin/python3; do
  if "$py" -c "import pytest, numpy" >/dev/null 2>&1; then
    exec "$py" -m pytest -q -p no:cacheprovider "$@" .
  fi
done
echo "python tests skipped: no python3 with pytest and numpy" \
     "(Debian: python3-pytest python3-numpy python3-torch)"
exit 77
