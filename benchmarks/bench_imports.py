"""Start-up cost: what ``import qnn_torch`` adds to ``import torch, pennylane``, and how fast the
``qnn-torch`` command answers ``--help`` and ``--version``.

Every measurement is a fresh interpreter (median of ``--repeat`` runs). Targets: the public API adds
at most 0.3 s to torch and PennyLane; ``--help`` and ``--version`` answer in under 1 s. Exits with 1
when a target is missed.

    python -m benchmarks.bench_imports [--repeat 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

CASES = {
    "import torch, pennylane": [sys.executable, "-c", "import torch, pennylane"],
    "+ import qnn_torch": [sys.executable, "-c", "import torch, pennylane, qnn_torch"],
    "+ the public API": [sys.executable, "-c", "import torch, pennylane\n"
                         "from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, fit, parity"],
    "qnn-torch --help": [sys.executable, "-m", "qnn_torch", "--help"],
    "qnn-torch --version": [sys.executable, "-m", "qnn_torch", "--version"],
}

TARGETS = {"api_added_s": 0.3, "help_s": 1.0, "version_s": 1.0}


def _median_seconds(command, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    # interleaved rounds, so that load on the machine affects every case alike
    seconds = {name: [] for name in CASES}
    for _ in range(args.repeat):
        for name, command in CASES.items():
            seconds[name].append(_median_seconds(command, 1))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    base = median["import torch, pennylane"]
    results = {
        "api_added_s": median["+ the public API"] - base,
        "package_added_s": median["+ import qnn_torch"] - base,
        "help_s": median["qnn-torch --help"],
        "version_s": median["qnn-torch --version"],
    }
    print(f"{'case':<26} {'median s':>9}")
    for name, value in median.items():
        print(f"{name:<26} {value:9.3f}")
    print()
    failed = False
    for key, value in results.items():
        target = TARGETS.get(key)
        verdict = "" if target is None else ("ok" if value <= target else "MISSED")
        failed |= verdict == "MISSED"
        print(f"{key:<26} {value:9.3f}  {'' if target is None else f'target <= {target} s: {verdict}'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"median_s": median, "results": results, "targets": TARGETS}, fh, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
