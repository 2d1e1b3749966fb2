"""The second-order Pauli-Z feature map, gate for gate as Qiskit's ``zz_feature_map``."""

from __future__ import annotations

from .pauli_feature_map import PauliFeatureMap

__all__ = ["ZZFeatureMap"]


class ZZFeatureMap(PauliFeatureMap):
    r"""Qiskit's ``ZZFeatureMap``: a :class:`PauliFeatureMap` with words ``("Z", "ZZ")``.

    Each repetition: a Hadamard and ``PhaseShift(2 x_i)`` on every wire, then for every pair
    ``(i, j)`` of the entanglement ``CNOT(i, j)``, ``PhaseShift(2 (pi - x_i)(pi - x_j))`` on
    ``j``, ``CNOT(i, j)``.

    Args:
        features (tensor_like): shape ``(n,)`` or ``(batch, n)`` with ``n = len(wires)``.
        wires (Iterable): the wires; ``wires[i]`` plays Qiskit's qubit ``i``.
        reps (int): number of repetitions, at least 1.
        entanglement (str or Sequence[Sequence[int]]): the pairs to couple, as in
            :class:`PauliFeatureMap`.

    Raises:
        ValueError: if the features do not match the wires or are not finite, ``reps < 1``,
            or the entanglement is unknown.

    **Example**

    >>> import pennylane as qml
    >>> dev = qml.device("default.qubit", wires=2)
    >>> @qml.qnode(dev)
    ... def circuit(x):
    ...     ZZFeatureMap(x, wires=[0, 1], reps=1)
    ...     return qml.expval(qml.Z(0) @ qml.Z(1))
    >>> print(qml.draw(circuit, level="device")([0.1, 0.2]))
    0: ──H──Rϕ(0.20)─╭●────────────╭●─┤ ╭<Z@Z>
    1: ──H──Rϕ(0.40)─╰X──Rϕ(17.89)─╰X─┤ ╰<Z@Z>
    """

    def __init__(self, features, wires, reps=2, entanglement="full", **kwargs):
        # ``paulis`` and ``alpha`` arrive only when PennyLane rebuilds the operator from its
        # hyperparameters (copy, map_wires); they are fixed for this feature map.
        kwargs.setdefault("paulis", ("Z", "ZZ"))
        kwargs.setdefault("alpha", 2.0)
        fixed = tuple(kwargs["paulis"]) == ("Z", "ZZ") and kwargs["alpha"] == 2.0
        if not fixed or set(kwargs) - {"paulis", "alpha"}:
            raise TypeError(
                "ZZFeatureMap takes features, wires, reps and entanglement; use PauliFeatureMap "
                f"for other words or alpha; got {kwargs!r}."
            )
        super().__init__(features, wires, reps=reps, entanglement=entanglement, **kwargs)
