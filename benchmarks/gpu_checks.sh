#!/bin/bash
# The checks that need a CUDA GPU (issue #13), in one run: the CUDA tests (placement, the torch
# adjoint engine's paths against the CPU, DDP over NCCL), then the scaling benchmark's GPU rows.
# Run from the repository root with qnn_torch importable; results under ${OUT:-benchmarks/results}.
#   bash benchmarks/gpu_checks.sh            # tests, then benchmark
#   bash benchmarks/gpu_checks.sh tests      # or: bench
# Environment: TEST_TIMEOUT, BENCH_TIMEOUT (seconds), QUBITS, BATCHES, CONTENDERS, TIMEOUT, STEP_BUDGET.
set -u
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu-machine.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu-machine.txt"
MODE=${1:-all}
status=0
if [ "$MODE" != bench ]; then
  timeout "${TEST_TIMEOUT:-300}" python3 -m pytest -q -rs -p no:cacheprovider \
    tests/qnn/test_placement.py tests/engines/test_placement.py tests/test_distributed.py \
    tests/engines/test_torch_adjoint.py 2>&1 | tee "$OUT/gpu-tests.log" | tail -15
  status=${PIPESTATUS[0]}
fi
if [ "$MODE" != tests ]; then
  timeout "${BENCH_TIMEOUT:-600}" python3 -m benchmarks.bench_scaling --qubits "${QUBITS:-12,14,16,18,20}" \
    --batches "${BATCHES:-1,8,64}" --repeats 3 --step-budget "${STEP_BUDGET:-6}" --timeout "${TIMEOUT:-60}" \
    --no-plot --contenders "${CONTENDERS:-qnn_torch[auto] cuda,default.qubit backprop cuda,lightning.qubit adjoint}" \
    --out "$OUT/scaling-gpu" 2>&1 | tee "$OUT/gpu-bench.log" | tail -75
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi
exit $status
