"""IBM Quantum Runtime sessions and batches for the jobs of a model (:func:`runtime_session`)."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

from .credentials import scrub_secrets, without_secrets
from .model_devices import remote_devices

__all__ = ["SESSION_MODES", "runtime_session"]

SESSION_MODES = ("auto", "session", "batch", "job")
"""tuple[str, ...]: the ``mode`` values of :func:`runtime_session`."""


@contextmanager
def runtime_session(model, mode: str = "session", **kwargs):
    """Run every IBM job of ``model`` inside one Qiskit Runtime ``Session`` (or ``Batch``).

    Args:
        model: a ``torch.nn.Module`` holding :class:`~qnn_torch.TorchConnector` layers, a
            connector, or a QNN, whose device is an IBM (or fake IBM) backend.
        mode (str): ``"session"`` (dedicated, iterative access), ``"batch"``, ``"job"`` (no
            session: each job queues on its own), or ``"auto"``: a session where the account
            allows one, else a batch, else job mode, with one warning saying which and why
            (accounts on IBM's Open plan cannot open sessions).
        **kwargs: passed to ``Session``/``Batch`` (e.g. ``max_time``).

    Yields:
        Session or Batch or None: the open session (closed on exit), or None in job mode.

    Raises:
        ValueError: if ``model`` runs on no IBM backend, if ``mode`` is unknown, or if the
            account refuses the ``mode`` asked for (the message names it and the service's
            reason).

    **Example**

    .. code-block:: python

        with runtime_session(model, mode="auto", max_time="1h"):
            fit(model, loader, optimizer, loss_fn, epochs=3, checkpoint="run.pt")
    """
    if mode not in SESSION_MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, SESSION_MODES))}; got {mode!r}.")
    devices = remote_devices(model)
    if not devices:
        raise ValueError("runtime_session needs a model whose QNN runs on an IBM backend "
                         "(device='ibm:<name>', 'fake:<name>' or a Backend object); found none.")
    backends = {id(d.backend): d.backend for d in devices}
    if len(backends) > 1:
        raise ValueError(f"runtime_session needs one backend; the model uses {len(backends)}.")
    session = _open_session(devices[0].backend, mode, kwargs)
    previous = [d.session for d in devices]
    for d in devices:
        d.update_session(session)
    try:
        yield session
    finally:
        for d, old in zip(devices, previous):
            d.update_session(old)
        if session is not None:
            _close(session)


def _open_session(backend, mode: str, kwargs: dict):
    """A ``Session`` or ``Batch`` on ``backend`` for ``mode`` (None in job mode); in ``"auto"``
    mode the first the account allows, with one warning when it is not a session."""
    from qiskit_ibm_runtime import Batch, Session

    kinds = {"session": Session, "batch": Batch}
    refused, session = [], None
    for candidate in (("session", "batch", "job") if mode == "auto" else (mode,)):
        if candidate == "job":
            break
        session, refusal, error = _try_open(kinds[candidate], candidate, backend, kwargs)
        if error is not None:  # raised here, outside the handler: no __context__ that may hold a token
            raise error
        if session is not None:
            break
        refused.append((candidate, refusal))
        if mode != "auto":
            raise ValueError(f"runtime_session(mode={mode!r}): the account cannot open a {candidate} on "
                             f"{backend.name} ({refusal}); use mode='auto' to fall back to what it allows.")
    if refused:
        fallback = "a batch" if session is not None else "job mode (each job queues on its own)"
        reasons = "; ".join(f"no {kind} ({reason})" for kind, reason in refused)
        warnings.warn(f"runtime_session(mode='auto') on {backend.name}: {reasons}; running the jobs in "
                      f"{fallback}", RuntimeWarning, stacklevel=4)
    return session


def _try_open(cls, kind: str, backend, kwargs: dict):
    """``(session, None, None)``; ``(None, reason, None)`` when the service refuses ``kind`` to the
    account (an ``IBMError``; the reason scrubbed of secrets); ``(None, None, error)`` for any other
    error, to be raised by the caller (a :class:`~qnn_torch.devices.jobs.ServiceError` if it held
    a secret)."""
    from qiskit_ibm_runtime.exceptions import IBMError

    try:
        return cls(backend=backend, **kwargs), None, None
    except IBMError as err:  # the service refuses this mode to the account
        return None, scrub_secrets(f"{type(err).__name__}: {err}".splitlines()[0][:200]), None
    except Exception as err:  # noqa: BLE001 - handed to the caller, which raises it
        return None, None, without_secrets(err, f"opening a {kind} on {backend.name}")


def _close(session) -> None:
    """Close ``session``; an error that holds a secret is raised scrubbed."""
    try:
        session.close()
        return
    except Exception as err:  # noqa: BLE001 - raised below, outside the handler
        error = without_secrets(err, "closing the session")
    raise error
