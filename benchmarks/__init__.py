"""Side-by-side benchmarks of qnn_torch: each ``bench_*`` module is a script, run from the
repository root as ``python -m benchmarks.bench_scaling`` so that it measures this checkout's
qnn_torch (``benchmarks/README.md`` lists them and their results).

What the side-by-side benchmarks share:

* :mod:`benchmarks.contender`: the contender protocol (:class:`~benchmarks.contender.Contender`:
  setup, the agreement check, a training step) and the checks against the reference;
* :mod:`benchmarks.worker`: the worker skeleton: every contender at every size in a fresh process
  under a time-out and a memory limit (:class:`~benchmarks.worker.Runner`), and in that process
  setup, first call, agreement check, then the timed steps (:func:`~benchmarks.worker.measure`);
* :mod:`benchmarks.process` (a worker process, its limits and its report lines),
  :mod:`benchmarks.timing` (timed steps), :mod:`benchmarks.reference` (Qiskit's outputs and
  PennyLane's gradients), :mod:`benchmarks.report` (machine, tables, files) and
  :mod:`benchmarks.internals` (the qnn_torch internals they use, in one place);
* the networks: :mod:`benchmarks.scaling_network`, :mod:`benchmarks.reuploading_circuit`.

Importing the package and its shared modules takes the standard library only, so that the
Python 3.12 worker of qiskit-torch-module (which has no qnn_torch) runs them too.
"""
