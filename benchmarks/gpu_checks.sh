#!/bin/bash
# The checks that need a CUDA GPU (issues #13 and #24), in one run, each part under its own time limit:
#   tests  every CUDA test (those named "cuda" or "gpus" in the files that hold them): placement, the
#          torch adjoint engine's paths against the CPU, DDP over NCCL, the README's GPU block;
#   first  the first call on CUDA at 2, 6 and 12 qubits (benchmarks.bench_first_call --device cuda);
#   large  the scaling benchmark's GPU rows at 22 and 24 qubits (qnn_torch on the GPU alone);
#   bench  its GPU rows at 12-20 qubits, beside default.qubit on the GPU (CONTENDERS can add
#          "lightning.qubit adjoint", on the machine's CPUs: about a third more time).
# The scaling rows read their references from benchmarks/references (Qiskit's Statevector takes
# minutes from 22 qubits); a size missing there is computed and kept.
# Run from the repository root with qnn_torch and its dependencies importable; results under
# ${OUT:-benchmarks/results}.
#   bash benchmarks/gpu_checks.sh                # every part, in the order above
#   bash benchmarks/gpu_checks.sh tests first    # or some of them
# Environment: TEST_TIMEOUT, FIRST_TIMEOUT, LARGE_TIMEOUT, BENCH_TIMEOUT (seconds for each part),
# FIRST_ROUNDS, BATCHES, CONTENDERS, LARGE_QUBITS, QUBITS, STEP_BUDGET, LARGE_WORKER_TIMEOUT and
# WORKER_TIMEOUT (seconds for one contender at one size).
# Time: every benchmark row is a fresh process, and on the lent H200 (2026-12-04) a process took
# about 20 s before its first timed step (9 s of them making the CUDA context). With the defaults
# the parts take at most 90 + 130 + 180 + 200 s, 10 minutes in all; where one command may run 10
# minutes at most, run "tests first large" and then "bench". The tests took 67 s there.
# The script fails (exit 1) where no CUDA GPU is visible, a part is unknown, or a part fails (a
# missed first-call target is reported, not failed: a fresh process pays CUDA's kernel loading).
set -u
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PARTS=${*:-tests first large bench}
REFERENCES=benchmarks/references
for p in $PARTS; do
  case $p in
    tests | first | large | bench) ;;
    *) echo "unknown part '$p': expected tests, first, large or bench" >&2; exit 2 ;;
  esac
done
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu-machine.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu-machine.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "no CUDA GPU visible to torch: nothing to check" >&2; exit 1; }
status=0

wanted() { [[ " $PARTS " == *" $1 "* ]]; }

# part timeout log command...: run one part, its output into log; a failed part fails the script
part() {
  local limit=$1 log=$2
  shift 2
  echo "== $log: $* (at most $limit s)"
  timeout "$limit" "$@" >"$OUT/$log" 2>&1
  local rc=$?
  tail -25 "$OUT/$log"
  echo "== $log: exit $rc"
  [ $rc -eq 0 ] || status=1
}

scaling() {  # scaling limit log qubits contenders worker-timeout
  part "$1" "$2" python3 -m benchmarks.bench_scaling --qubits "$3" --contenders "$4" --timeout "$5" \
    --batches "${BATCHES:-1,8,64}" --repeats 3 --step-budget "${STEP_BUDGET:-4}" \
    --reference-dir "$REFERENCES" --no-plot --out "$OUT/${2%.log}"
}

if wanted tests; then
  part "${TEST_TIMEOUT:-90}" gpu-tests.log python3 -m pytest -q -rs -p no:cacheprovider -k "cuda or gpus" \
    tests/engines/test_placement.py tests/engines/test_torch_adjoint.py tests/test_distributed.py \
    tests/test_readme.py
fi
if wanted first; then
  part "${FIRST_TIMEOUT:-130}" first-call-cuda.log python3 -m benchmarks.bench_first_call --device cuda \
    --qubits 2,6,12 --rounds "${FIRST_ROUNDS:-1}" --no-one-offs --report-only --out "$OUT/first-call-cuda"
fi
if wanted large; then
  scaling "${LARGE_TIMEOUT:-180}" scaling-gpu-large.log "${LARGE_QUBITS:-22,24}" "qnn_torch[auto] cuda" \
    "${LARGE_WORKER_TIMEOUT:-90}"
fi
if wanted bench; then
  scaling "${BENCH_TIMEOUT:-200}" scaling-gpu.log "${QUBITS:-12,14,16,18,20}" \
    "${CONTENDERS:-qnn_torch[auto] cuda,default.qubit backprop cuda}" "${WORKER_TIMEOUT:-40}"
fi
exit $status
