#!/bin/bash
# Pack what benchmarks/gpu_checks.sh needs beyond a machine's own packages into one archive, for a
# GPU machine that cannot reach a package registry. The machine must have torch, pytest, NumPy,
# SciPy, networkx, SymPy, numba, scikit-learn, requests, psutil, python-dateutil and setuptools
# (the lent H200's image has them, for Python 3.12, and nothing of PennyLane's or Qiskit's):
#   bash benchmarks/pack_site.sh [PYTHON_VERSION] [ARCHIVE]     # 3.12, .whl/site312.tar.xz
# There: mkdir -p /tmp/site && tar -xJf ARCHIVE -C /tmp/site && export PYTHONPATH=/tmp/site:$PWD
# The wheels are unpacked, not installed (pip refuses another interpreter's platform tags), less
# Lightning's Catalyst library (64 MB, unused here) and a top-level tests folder: about 36 MB.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VERSION=${1:-3.12}
ARCHIVE=${2:-.whl/site${VERSION/./}.tar.xz}
WHEELS=$(mktemp -d)
SITE=$(mktemp -d)
trap 'rm -rf "$WHEELS" "$SITE"' EXIT
"$PYTHON" -m pip download -q --only-binary=:all: --python-version "$VERSION" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" \
  "pennylane>=0.45,<0.46" "pennylane-lightning>=0.45,<0.46" "pennylane-qiskit>=0.45,<0.46" \
  "qiskit>=2.0,<2.4" "qiskit-aer>=0.17" "qiskit-ibm-runtime>=0.40" \
  "qiskit-machine-learning==0.9.1" "sparse>=0.15,<0.19"
# what the GPU image has already
for name in numpy scipy networkx packaging requests certifi charset_normalizer idna urllib3 \
  typing_extensions sympy mpmath psutil python_dateutil numba llvmlite scikit_learn joblib threadpoolctl six \
  setuptools cloudpickle narwhals; do
  rm -f "$WHEELS/$name"-*.whl
done
for wheel in "$WHEELS"/*.whl; do
  "$PYTHON" -m zipfile -e "$wheel" "$SITE"
done
find "$SITE" -name liblightning_qubit_catalyst.so -delete
rm -rf "$SITE/tests" "$SITE"/*.data
mkdir -p "$(dirname "$ARCHIVE")"
tar -C "$SITE" -cf - . | xz -9 -T0 >"$ARCHIVE"
ls -l "$ARCHIVE"
