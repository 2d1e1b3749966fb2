"""The Pauli expansion feature map, gate for gate as Qiskit's ``pauli_feature_map``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pennylane as qml
from pennylane.ops import CNOT, RX, Hadamard, PhaseShift

from ._validation import check_finite, check_last_dim, check_real_number, check_reps
from .entanglement import entangler_map, validate_entanglement
from .vector_template import VectorTemplate

__all__ = ["PauliFeatureMap"]


def _check_paulis(paulis, num_wires: int) -> tuple[str, ...]:
    if isinstance(paulis, str):
        paulis = (paulis,)
    if not isinstance(paulis, Sequence) or not all(isinstance(p, str) for p in paulis):
        raise TypeError(f"paulis must be a sequence of Pauli words such as ('Z', 'ZZ'); got {paulis!r}.")
    if not paulis:
        raise ValueError("paulis must hold at least one Pauli word; got an empty sequence.")
    for word in paulis:
        if not word or set(word) - set("IXYZ"):
            raise ValueError(f"paulis must be words over 'I', 'X', 'Y', 'Z'; got {word!r}.")
        if len(word) > num_wires:
            raise ValueError(
                f"paulis must be words of at most {num_wires} letters for {num_wires} wires; "
                f"got {word!r} of length {len(word)}."
            )
    return tuple(paulis)


def _data_map(features, block):
    """Qiskit's default data map: x_i for one qubit, prod_j (pi - x_j) for more."""
    if len(block) == 1:
        return features[..., block[0]]
    angle = np.pi - features[..., block[0]]
    for q in block[1:]:
        angle = angle * (np.pi - features[..., q])
    return angle


def _columns(features, index: np.ndarray):
    """``features[..., index]``; a run of consecutive non-negative positions as a slice, so that a
    traced angle program holds no gather and no index table."""
    start = int(index[0])
    if start >= 0 and np.array_equal(index, np.arange(start, start + len(index))):
        return features[..., start:start + len(index)]
    return features[..., index]


def _data_maps(features, blocks):
    """:func:`_data_map` of every block of one length at once, ``(..., len(blocks))``: the same
    operations, elementwise, so the same numbers bit for bit."""
    index = np.asarray(blocks, dtype=np.int64).reshape(len(blocks), -1)
    if index.shape[1] == 1:
        return _columns(features, index[:, 0])
    angle = np.pi - _columns(features, index[:, 0])
    for column in index.T[1:]:
        angle = angle * (np.pi - _columns(features, column))
    return angle


def _evolution_gates(word, block_wires):
    """The gates of exp(-i angle/2 P) up to Qiskit's phase convention, ``(class, wires, parameters)``
    in order: basis change, CX ladder, ``PhaseShift`` (its parameters: None, the angle's place),
    undo.

    Qiskit labels are little-endian, so the last letter of ``word`` acts on the first wire
    of the block.
    """
    letters = word[::-1]
    active = [(w, p) for w, p in zip(block_wires, letters) if p != "I"]
    if not active:
        return []

    def basis_change(inverse):
        for w, p in active:
            if p == "X":
                gates.append((Hadamard, (w,), ()))
            elif p == "Y":
                gates.append((RX, (w,), (-np.pi / 2 if inverse else np.pi / 2,)))

    wires = [w for w, _ in active]
    gates = []
    basis_change(inverse=False)
    gates.extend((CNOT, (wires[i], wires[i + 1]), ()) for i in range(len(wires) - 1))
    gates.append((PhaseShift, (wires[-1],), None))
    gates.extend((CNOT, (wires[i], wires[i + 1]), ()) for i in reversed(range(len(wires) - 1)))
    basis_change(inverse=True)
    return gates


def _gates(wires, reps, paulis, entanglement):
    """The feature map's gates in order, ``(class, wires, parameters)``, with each ``PhaseShift``'s
    block of feature positions: ``(PhaseShift, wires, block)``."""
    n = len(wires)
    gates = []
    for rep in range(reps):
        gates.extend((Hadamard, (w,), ()) for w in wires)
        for word in paulis:
            for block in entangler_map(n, len(word), entanglement, offset=rep):
                evolution = _evolution_gates(word, [wires[q] for q in block])
                gates.extend((cls, gate_wires, block if parameters is None else parameters)
                             for cls, gate_wires, parameters in evolution)
    return gates


class PauliFeatureMap(VectorTemplate):
    r"""Encodes features with Pauli-word evolutions, exactly as Qiskit's ``pauli_feature_map``.

    Each of the ``reps`` repetitions applies a Hadamard to every wire and then, for every word
    :math:`P` in ``paulis`` and every block :math:`S` of ``len(P)`` wires chosen by
    ``entanglement``, the evolution :math:`\exp(i\,\alpha\,\phi_S(x)\,P/2)` (as Qiskit builds it:
    basis change, CNOT ladder, ``PhaseShift``, undo), where :math:`\phi_{\{i\}} = x_i` and
    :math:`\phi_S = \prod_{j\in S}(\pi - x_j)`.

    Conventions follow Qiskit: feature ``i`` is Qiskit's ``x[i]``, wire ``i`` plays qubit ``i``,
    and a word is read little-endian (in ``"XZ"`` on the block ``(0, 1)``, ``Z`` acts on wire 0).
    The matrix equals Qiskit's ``Operator`` when PennyLane's wire order is reversed.

    Args:
        features (tensor_like): shape ``(n,)`` or ``(batch, n)`` with ``n = len(wires)``.
        wires (Iterable): the wires; ``wires[i]`` plays Qiskit's qubit ``i``.
        reps (int): number of repetitions, at least 1.
        paulis (Sequence[str]): the Pauli words, over ``I``, ``X``, ``Y`` and ``Z``.
        entanglement (str or Sequence[Sequence[int]]): ``"full"``, ``"linear"``,
            ``"reverse_linear"``, ``"circular"``, ``"sca"``, ``"pairwise"``, or explicit blocks
            of wire positions; a word of ``k`` letters uses the blocks of length ``k``.
        alpha (float): the rotation prefactor.

    Raises:
        ValueError: if the features do not match the wires or are not finite, ``reps < 1``,
            a word is longer than the number of wires, or the entanglement is unknown.
        TypeError: if an argument has the wrong type.

    **Example**

    >>> import pennylane as qml
    >>> dev = qml.device("default.qubit", wires=2)
    >>> @qml.qnode(dev)
    ... def circuit(x):
    ...     PauliFeatureMap(x, wires=[0, 1], reps=1, paulis=("Z", "XX"))
    ...     return qml.state()
    >>> print(qml.draw(circuit, level="device")([0.1, 0.2]))
    0: ──H──Rϕ(0.20)──H─╭●────────────╭●──H─┤ ╭State
    1: ──H──Rϕ(0.40)──H─╰X──Rϕ(17.89)─╰X──H─┤ ╰State
    """

    def __init__(self, features, wires, reps=2, paulis=("Z", "ZZ"), entanglement="full", alpha=2.0):
        super().__init__(features, wires=wires)
        n = len(self.wires)
        check_last_dim(features, "features", n, f"one feature per wire, {n} wires")
        check_finite(features, "features")
        self._hyperparameters = {
            "reps": check_reps(reps, 1),
            "paulis": _check_paulis(paulis, n),
            "entanglement": validate_entanglement(entanglement, n),
            "alpha": check_real_number(alpha, "alpha"),
        }
        for word in self._hyperparameters["paulis"]:  # a pattern that cannot serve a word fails now
            entangler_map(n, len(word), self._hyperparameters["entanglement"])

    @staticmethod
    def compute_decomposition(features, wires, reps, paulis, entanglement,
                              alpha):  # pylint: disable=arguments-differ
        r"""The gates of the feature map, in Qiskit's order.

        Args:
            features (tensor_like): shape ``(n,)`` or ``(batch, n)``.
            wires (Wires): the wires.
            reps (int): number of repetitions.
            paulis (tuple[str]): the Pauli words.
            entanglement (str or tuple[tuple[int]]): the entanglement pattern.
            alpha (float): the rotation prefactor.

        Returns:
            list[.Operator]: the decomposition.
        """
        # operators queue when built, so they are built in the order they are applied
        return [PhaseShift(alpha * _data_map(features, parameters), wires=gate_wires) if cls is PhaseShift
                else cls(*parameters, wires=gate_wires)
                for cls, gate_wires, parameters in _gates(wires, reps, paulis, entanglement)]

    @staticmethod
    def compute_gates(wires, reps, paulis, entanglement, alpha):  # pylint: disable=arguments-differ
        r"""The gates of :meth:`compute_decomposition` without building them: ``(class, wires,
        parameters)`` in its order, the ``PhaseShift`` gates' parameters None (their angles are
        :meth:`compute_angles`'s, in order).

        Args:
            wires (Wires): the wires.
            reps (int): number of repetitions.
            paulis (tuple[str]): the Pauli words.
            entanglement (str or tuple[tuple[int]]): the entanglement pattern.
            alpha (float): the rotation prefactor (no gate's structure depends on it).

        Returns:
            list[tuple]: ``(Operator class, tuple of wires, tuple of parameters or None)``.

        **Example**

        >>> gates = PauliFeatureMap.compute_gates((0, 1), reps=1, paulis=("ZZ",), entanglement="linear",
        ...                                       alpha=2.0)
        >>> [f"{cls.__name__}{wires}" for cls, wires, _ in gates]
        ['Hadamard(0,)', 'Hadamard(1,)', 'CNOT(0, 1)', 'PhaseShift(1,)', 'CNOT(0, 1)']
        """
        del alpha
        return [(cls, gate_wires, None if cls is PhaseShift else parameters)
                for cls, gate_wires, parameters in _gates(wires, reps, paulis, entanglement)]

    @staticmethod
    def compute_angles(features, reps, paulis, entanglement, alpha):  # pylint: disable=arguments-differ
        r"""The angles of the ``PhaseShift`` gates of :meth:`compute_decomposition`, in its order,
        computed for all blocks of a word at once, and once for repetitions with the same blocks (a
        traced program then has a few operations instead of several per gate; the values are the
        same bit for bit, and so are the engines' derivatives, which follow each angle; a gradient
        taken by autograd straight through this function may differ in the last bit, as a shared
        block sums its repetitions' gradients first).

        Args:
            features (tensor_like): shape ``(n,)`` or ``(batch, n)``.
            reps (int): number of repetitions.
            paulis (tuple[str]): the Pauli words.
            entanglement (str or tuple[tuple[int]]): the entanglement pattern.
            alpha (float): the rotation prefactor.

        Returns:
            tensor_like: shape ``(G,)`` or ``(batch, G)``, one angle per ``PhaseShift``.

        **Example**

        >>> import numpy as np
        >>> PauliFeatureMap.compute_angles(np.array([0.1, 0.2]), reps=1, paulis=("Z", "ZZ"),
        ...                                entanglement="linear", alpha=2.0).round(4).tolist()
        [0.2, 0.4, 17.8943]
        """
        n = qml.math.shape(features)[-1]
        parts, done = [], {}  # the blocks' angles, computed once however many repetitions share them
        for rep in range(reps):
            for word in paulis:
                blocks = entangler_map(n, len(word), entanglement, offset=rep)
                if blocks and set(word) != {"I"}:  # an identity word applies no gate
                    key = tuple(map(tuple, blocks))
                    if key not in done:
                        done[key] = alpha * _data_maps(features, blocks)
                    parts.append(done[key])
        if not parts:
            return features[..., :0]
        return parts[0] if len(parts) == 1 else qml.math.concatenate(parts, axis=-1)
