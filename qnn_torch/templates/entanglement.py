"""Entanglement patterns, reproducing Qiskit's ``get_entangler_map`` block for block.

Every pattern returns a tuple of qubit-index tuples, each of length ``block_size``, in
the order Qiskit applies them. Indices are positions in the template's wire list
(position ``i`` plays Qiskit's qubit ``i``).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from numbers import Integral

__all__ = ["ENTANGLEMENT_PATTERNS", "entangler_map", "validate_entanglement"]

ENTANGLEMENT_PATTERNS = ("full", "linear", "reverse_linear", "circular", "sca", "pairwise")
"""tuple[str]: the entanglement strings Qiskit accepts, in Qiskit's spelling."""

Blocks = tuple[tuple[int, ...], ...]


def _linear(n: int, k: int) -> list[tuple[int, ...]]:
    return [tuple(range(i, i + k)) for i in range(n - k + 1)]


def _circular(n: int, k: int) -> list[tuple[int, ...]]:
    if not 1 < k < n:
        return _linear(n, k)
    # the blocks that wrap around come first, then the linear ones, as in Qiskit
    starts = list(range(n - k + 1, n)) + list(range(n - k + 1))
    return [tuple((s + j) % n for j in range(k)) for s in starts]


def validate_entanglement(entanglement, num_wires: int) -> str | Blocks:
    """Check an ``entanglement`` argument and return it in hashable form.

    Args:
        entanglement (str or Sequence[Sequence[int]]): one of :data:`ENTANGLEMENT_PATTERNS`
            or an explicit list of qubit-index tuples (positions in the wire list).
        num_wires (int): the number of wires of the template.

    Returns:
        str or tuple[tuple[int]]: the pattern name, or the blocks as tuples of ints.

    Raises:
        ValueError: for an unknown pattern or an index outside ``range(num_wires)``.
        TypeError: for anything that is neither a string nor a sequence of index tuples.
    """
    if isinstance(entanglement, str):
        if entanglement not in ENTANGLEMENT_PATTERNS:
            raise ValueError(
                f"entanglement must be one of {list(ENTANGLEMENT_PATTERNS)} or a list of "
                f"qubit-index tuples; got {entanglement!r}."
            )
        return entanglement
    if not isinstance(entanglement, Sequence) or not all(
        isinstance(block, Sequence) and not isinstance(block, str) for block in entanglement
    ):
        raise TypeError(
            "entanglement must be a string or a list of qubit-index tuples such as "
            f"[(0, 1), (1, 2)]; got {entanglement!r}."
        )
    blocks = []
    for block in entanglement:
        if not all(isinstance(q, Integral) for q in block):
            raise TypeError(
                f"entanglement blocks must hold integer qubit indices; got {tuple(block)!r}."
            )
        if len(set(block)) != len(block) or not block:
            raise ValueError(
                f"entanglement blocks must hold distinct qubit indices; got {tuple(block)!r}."
            )
        if any(not 0 <= q < num_wires for q in block):
            raise ValueError(
                f"entanglement indices must lie in range({num_wires}) for {num_wires} wires; "
                f"got block {tuple(block)!r}."
            )
        blocks.append(tuple(int(q) for q in block))
    return tuple(blocks)


def entangler_map(num_wires: int, block_size: int, entanglement, offset: int = 0) -> Blocks:
    """Return the blocks of ``block_size`` qubits that Qiskit entangles.

    Args:
        num_wires (int): number of qubits of the circuit.
        block_size (int): number of qubits each block acts on.
        entanglement (str or tuple[tuple[int]]): a pattern name or explicit blocks; explicit
            blocks of another size than ``block_size`` are skipped, as Qiskit does.
        offset (int): the repetition index; only ``"sca"`` depends on it.

    Returns:
        tuple[tuple[int]]: the blocks in the order they are applied.

    Raises:
        ValueError: if the block does not fit the wires, or ``"pairwise"`` is asked for blocks
            of more than two qubits.

    **Example**

    >>> entangler_map(3, 2, "circular")
    ((2, 0), (0, 1), (1, 2))
    """
    n, k = num_wires, block_size
    if k > n:
        raise ValueError(
            f"a block of {k} qubits does not fit on {n} wires; use at most {n}-qubit terms."
        )
    if not isinstance(entanglement, str):
        return tuple(block for block in entanglement if len(block) == k)
    if entanglement == "full":
        return tuple(combinations(range(n), k))
    if entanglement == "linear":
        return tuple(_linear(n, k))
    if entanglement == "reverse_linear":
        return tuple(reversed(_linear(n, k)))
    if entanglement == "pairwise":
        if k > 2:
            raise ValueError(
                f"entanglement 'pairwise' is defined for blocks of at most 2 qubits; got {k}."
            )
        if k == 1:
            return tuple(_linear(n, k))
        return tuple([(i, i + 1) for i in range(0, n - 1, 2)] + [(i, i + 1) for i in range(1, n - 1, 2)])
    blocks = _circular(n, k)
    if entanglement == "sca":
        shift = offset % len(blocks) if blocks else 0
        blocks = blocks[len(blocks) - shift:] + blocks[: len(blocks) - shift]
        if offset % 2 == 1:
            blocks = [tuple(reversed(block)) for block in blocks]
    return tuple(blocks)
