"""What a resolved device is to a network: :class:`DeviceSpec`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeviceSpec"]


@dataclass(frozen=True)
class DeviceSpec:
    """A resolved device and how to differentiate through it.

    Attributes:
        device: the PennyLane device.
        diff_method (str): the differentiation method for the QNode.
        shots (int or None): the shots to set on the QNode.
        label (str): a short human-readable name (never holds credentials).
        broadcast_expand (bool): whether batches must be split before the gradient transform
            (parameter-shift cannot differentiate broadcast inputs).
    """

    device: object
    diff_method: str
    shots: int | None
    label: str
    broadcast_expand: bool
