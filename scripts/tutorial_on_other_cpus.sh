#!/usr/bin/env bash
# Runs `qnn-torch tutorial` on emulated CPUs unlike this one and compares their tables with this
# machine's: the cross-CPU check of README "The same numbers on every CPU".
#
#   scripts/tutorial_on_other_cpus.sh [CPU ...]     (default: Haswell EPYC-Rome Nehalem)
#
# Needs qemu-user (Debian: apt-get install qemu-user), whose TCG emulates the CPUID and the
# instructions of the named CPU, so that MKL, PyTorch and OpenBLAS take the code paths they take
# there (AVX2 on Haswell and EPYC-Rome; SSE4.2 on Nehalem, which has no AVX2). Each CPU takes a few
# minutes. Extra arguments for the command go in QNN_TORCH_ARGS (e.g. "--parts classification-sampler").
set -euo pipefail
if [ $# -gt 0 ]; then cpus=("$@"); else cpus=(Haswell EPYC-Rome Nehalem); fi
out="$(mktemp -d)"
python=$(command -v python)
# shellcheck disable=SC2086
"$python" -m qnn_torch tutorial --no-progress --out "$out/native" --json "$out/native.json" ${QNN_TORCH_ARGS:-} \
  > "$out/native.txt"
for cpu in "${cpus[@]}"; do
  # shellcheck disable=SC2086
  qemu-x86_64 -cpu "$cpu" "$python" -m qnn_torch tutorial --no-progress --out "$out/$cpu" \
    --json "$out/$cpu.json" ${QNN_TORCH_ARGS:-} 2>/dev/null > "$out/$cpu.txt"
  "$python" - "$out/native.json" "$out/$cpu.json" "$cpu" <<'PY'
import json, sys
native, other, cpu = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
for part, mine in native["parts"].items():
    theirs = other["parts"][part]
    diff = max(abs(a - b) for a, b in zip(mine["losses"], theirs["losses"]))
    same = "identical" if mine["losses"] == theirs["losses"] else f"largest difference {diff:.1e}"
    print(f"{cpu:>10} {part:<25} last loss {theirs['losses'][-1]:.4f} (here {mine['losses'][-1]:.4f}), "
          f"accuracy {theirs['accuracy']}, losses {same}; blas {other['blas']}")
PY
done
echo "tables and JSON in $out"
