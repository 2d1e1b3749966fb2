"""The RY/CNOT ansatz, gate for gate and parameter for parameter as Qiskit's ``real_amplitudes``."""

from __future__ import annotations

from numbers import Integral

from pennylane.ops import CNOT, RY

from ._validation import check_finite, check_last_dim, check_reps
from .entanglement import entangler_map, validate_entanglement
from .vector_template import VectorTemplate

__all__ = ["RealAmplitudes"]


def _gates(wires, reps, entanglement, skip_final_rotation_layer) -> list[tuple]:
    """The ansatz's gates in order, ``(class, wires, parameters)``, with each ``RY``'s weight index."""
    n = len(wires)
    gates = []
    for rep in range(reps + (not skip_final_rotation_layer)):
        gates.extend((RY, (wires[q],), rep * n + q) for q in range(n))
        if rep < reps and n > 1:
            pairs = entangler_map(n, 2, entanglement, offset=rep)
            gates.extend((CNOT, (wires[c], wires[t]), ()) for c, t in pairs)
    return gates


class RealAmplitudes(VectorTemplate):
    r"""Qiskit's ``RealAmplitudes`` ansatz: layers of ``RY`` rotations and ``CNOT`` entanglers.

    Each of the ``reps`` repetitions applies ``RY`` on every wire and then a ``CNOT`` for every
    pair of the entanglement (``"sca"`` shifts with the repetition index); a final ``RY`` layer
    follows unless ``skip_final_rotation_layer``. Weight ``k`` is Qiskit's ``θ[k]``: weights are
    numbered layer by layer, wire by wire.

    Args:
        weights (tensor_like): shape ``(num_weights,)`` (or ``(batch, num_weights)``) as given
            by :meth:`shape`.
        wires (Iterable): the wires; ``wires[i]`` plays Qiskit's qubit ``i``.
        reps (int): number of repetitions, at least 0.
        entanglement (str or Sequence[Sequence[int]]): ``"reverse_linear"`` (Qiskit's default),
            ``"full"``, ``"linear"``, ``"circular"``, ``"sca"``, ``"pairwise"`` or explicit
            ``(control, target)`` pairs of wire positions.
        skip_final_rotation_layer (bool): leave out the last ``RY`` layer.

    Raises:
        ValueError: if the number of weights does not match, ``reps < 0``, or the entanglement is
            unknown.

    **Example**

    >>> import pennylane as qml
    >>> RealAmplitudes.shape(2, reps=1)
    (4,)
    >>> dev = qml.device("default.qubit", wires=2)
    >>> @qml.qnode(dev)
    ... def circuit(w):
    ...     RealAmplitudes(w, wires=[0, 1], reps=1)
    ...     return qml.expval(qml.Z(0))
    >>> print(qml.draw(circuit, level="device")([0.1, 0.2, 0.3, 0.4]))
    0: ──RY(0.10)─╭●──RY(0.30)─┤  <Z>
    1: ──RY(0.20)─╰X──RY(0.40)─┤
    """

    def __init__(self, weights, wires, reps=3, entanglement="reverse_linear",
                 skip_final_rotation_layer=False):
        super().__init__(weights, wires=wires)
        n = len(self.wires)
        reps = check_reps(reps, 0)
        if not isinstance(skip_final_rotation_layer, bool):
            raise TypeError(
                "skip_final_rotation_layer must be a bool; got "
                f"{skip_final_rotation_layer!r} ({type(skip_final_rotation_layer).__name__})."
            )
        (expected,) = self.shape(n, reps, skip_final_rotation_layer)
        check_last_dim(
            weights, "weights", expected,
            f"{n} wires x {reps + (not skip_final_rotation_layer)} rotation layers",
        )
        check_finite(weights, "weights")
        self._hyperparameters = {
            "reps": reps,
            "entanglement": validate_entanglement(entanglement, n),
            "skip_final_rotation_layer": skip_final_rotation_layer,
        }

    @staticmethod
    def compute_decomposition(weights, wires, reps, entanglement,
                              skip_final_rotation_layer):  # pylint: disable=arguments-differ
        r"""The gates of the ansatz, in Qiskit's order.

        Args:
            weights (tensor_like): shape ``(num_weights,)`` or ``(batch, num_weights)``.
            wires (Wires): the wires.
            reps (int): number of repetitions.
            entanglement (str or tuple[tuple[int]]): the entanglement pattern.
            skip_final_rotation_layer (bool): whether the last ``RY`` layer is left out.

        Returns:
            list[.Operator]: the decomposition.
        """
        gates = _gates(wires, reps, entanglement, skip_final_rotation_layer)
        return [RY(weights[..., parameters], wires=gate_wires) if cls is RY else cls(wires=gate_wires)
                for cls, gate_wires, parameters in gates]

    @staticmethod
    def compute_gates(wires, reps, entanglement,
                      skip_final_rotation_layer):  # pylint: disable=arguments-differ
        r"""The gates of :meth:`compute_decomposition` without building them: ``(class, wires,
        parameters)`` in its order, the ``RY`` gates' parameters None (their angles are
        :meth:`compute_angles`'s, in order).

        Args:
            wires (Wires): the wires.
            reps (int): number of repetitions.
            entanglement (str or tuple[tuple[int]]): the entanglement pattern.
            skip_final_rotation_layer (bool): whether the last ``RY`` layer is left out.

        Returns:
            list[tuple]: ``(Operator class, tuple of wires, tuple of parameters or None)``.

        **Example**

        >>> [(cls.__name__, wires) for cls, wires, _ in RealAmplitudes.compute_gates(
        ...     (0, 1), reps=1, entanglement="linear", skip_final_rotation_layer=True)]
        [('RY', (0,)), ('RY', (1,)), ('CNOT', (0, 1))]
        """
        gates = _gates(wires, reps, entanglement, skip_final_rotation_layer)
        return [(cls, gate_wires, None if cls is RY else parameters) for cls, gate_wires, parameters in gates]

    @staticmethod
    def compute_angles(weights, reps, entanglement,
                       skip_final_rotation_layer):  # pylint: disable=arguments-differ
        r"""The angles of the ``RY`` gates of :meth:`compute_decomposition`, in its order: the
        weights themselves (weight ``k`` is the ``k``-th rotation).

        Args:
            weights (tensor_like): shape ``(num_weights,)`` or ``(batch, num_weights)``.
            reps (int): number of repetitions.
            entanglement (str or tuple[tuple[int]]): the entanglement pattern.
            skip_final_rotation_layer (bool): whether the last ``RY`` layer is left out.

        Returns:
            tensor_like: ``weights``.

        **Example**

        >>> RealAmplitudes.compute_angles([0.1, 0.2], reps=0, entanglement="full",
        ...                               skip_final_rotation_layer=False)
        [0.1, 0.2]
        """
        del reps, entanglement, skip_final_rotation_layer  # every weight is one rotation, in order
        return weights

    @staticmethod
    def shape(n_wires: int, reps: int = 3, skip_final_rotation_layer: bool = False) -> tuple[int]:
        r"""The shape of the weight tensor: ``(n_wires * (reps + 1),)``, or ``(n_wires * reps,)``
        without the final rotation layer.

        Args:
            n_wires (int): number of wires.
            reps (int): number of repetitions.
            skip_final_rotation_layer (bool): whether the last ``RY`` layer is left out.

        Returns:
            tuple[int]: the flat weight shape.

        **Example**

        >>> RealAmplitudes.shape(3, reps=2)
        (9,)
        """
        if isinstance(n_wires, bool) or not isinstance(n_wires, Integral) or n_wires < 1:
            raise ValueError(f"n_wires must be a positive integer; got {n_wires!r}.")
        reps = check_reps(reps, 0)
        return (int(n_wires) * (reps + (not skip_final_rotation_layer)),)
