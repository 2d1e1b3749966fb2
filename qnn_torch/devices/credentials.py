"""IBM Quantum credentials, and keeping them out of every message.

The token comes from the ``QISKIT_IBM_TOKEN`` environment variable or the account saved with
``QiskitRuntimeService.save_account``; it is never printed, logged, stored or chained. An error of
the service that holds it (in its message, its chain or its frames' locals) is replaced by a
:class:`~qnn_torch.devices.jobs.ServiceError` with the token masked (:func:`without_secrets`)
wherever the package talks to the service: getting a backend, opening a session, submitting and
polling jobs.
"""

from __future__ import annotations

import os
import traceback

__all__ = ["TOKEN_VARIABLE", "holds_secret", "ibm_backend", "known_secrets", "scrub_secrets",
           "without_secrets"]

TOKEN_VARIABLE = "QISKIT_IBM_TOKEN"
"""str: the environment variable that may hold the IBM Quantum token."""


def known_secrets() -> list[str]:
    """The IBM tokens this process could leak: ``QISKIT_IBM_TOKEN`` and the saved account's."""
    secrets = [os.environ.get(TOKEN_VARIABLE)]
    try:
        from qiskit_ibm_runtime.accounts import AccountManager

        secrets.append(AccountManager.get().token)
    except Exception:  # noqa: BLE001 - no saved account
        pass
    return [s for s in secrets if s]


def scrub_secrets(text: str) -> str:
    """``text`` with the IBM token (from ``QISKIT_IBM_TOKEN`` or the saved account) masked."""
    for secret in known_secrets():
        text = text.replace(secret, "***")
    return text


def holds_secret(err: BaseException) -> bool:
    """Whether a known secret appears in ``err``: its message, arguments, notes, chain (suppressed
    contexts too) or the locals of any frame of its tracebacks. An error whose text cannot be
    produced (a ``repr`` that fails) counts as holding one."""
    secrets = known_secrets()
    if not secrets:
        return False
    seen, todo, text = set(), [err], ""
    try:
        while todo:
            e = todo.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            formatted = traceback.TracebackException(type(e), e, e.__traceback__, capture_locals=True)
            text += "".join(formatted.format()) + repr(e.args) + "".join(getattr(e, "__notes__", []))
            todo += [e.__cause__, e.__context__]
    except Exception:  # noqa: BLE001 - a repr that fails: do not risk it
        return True
    return any(secret in text for secret in secrets)


def without_secrets(err: Exception, action: str = "the IBM service") -> Exception:
    """``err`` itself when it holds no known secret (:func:`holds_secret`), else a
    :class:`~qnn_torch.devices.jobs.ServiceError` saying ``action`` failed, with ``err``'s first
    line, the secret masked.

    Raise the result outside the ``except`` clause that caught ``err``, so that ``err`` does not
    become its ``__context__``.
    """
    if not holds_secret(err):
        return err
    from .jobs import ServiceError, is_transient

    kind = type(err).__name__
    detail = scrub_secrets(str(err)).splitlines()[0][:300] if str(err) else ""
    return ServiceError(f"{action} failed ({kind}: {detail}); the original error held credentials and was "
                        "dropped", kind, is_transient(err))


def _runtime_backend(name: str):
    # The only frame that holds the token, and only as an argument expression: no local
    # variable of ours keeps it for a traceback to show.
    from qiskit_ibm_runtime import QiskitRuntimeService

    if os.environ.get(TOKEN_VARIABLE):
        return QiskitRuntimeService(token=os.environ.get(TOKEN_VARIABLE)).backend(name)
    return QiskitRuntimeService().backend(name)


def ibm_backend(name: str):
    """Return IBM backend ``name`` from the saved account or ``QISKIT_IBM_TOKEN``.

    Raises:
        ValueError: when no credentials are available or the service cannot be reached; the
            message says how to provide credentials. Neither the message, nor a chained
            exception, nor a local variable of a frame in its traceback holds the token: the
            service's error is not chained.
    """
    if not name:
        raise ValueError("device 'ibm:<backend name>' needs a backend name, e.g. 'ibm:ibm_brisbane'.")
    try:
        import qiskit_ibm_runtime  # noqa: F401
    except ImportError:  # pragma: no cover
        raise ValueError(
            "device 'ibm:...' needs qiskit-ibm-runtime: pip install qiskit-ibm-runtime") from None
    has_token = bool(os.environ.get(TOKEN_VARIABLE))
    try:
        return _runtime_backend(name)
    except Exception as err:  # noqa: BLE001 - re-raised below with a clean message, token scrubbed
        kind = type(err).__name__
        detail = scrub_secrets(str(err)).splitlines()[0][:200] if str(err) else ""
    # raised here, outside the handler, so that the service's error (its message, its frames'
    # locals such as QiskitRuntimeService(token=...)) is not even the __context__
    how = (
        f"set the {TOKEN_VARIABLE} environment variable or save an account once with "
        "QiskitRuntimeService.save_account(token=..., set_as_default=True)"
    )
    if "AccountNotFound" in kind or (not has_token and "account" in detail.lower()):
        raise ValueError(f"device 'ibm:{name}' needs IBM Quantum credentials: {how}.")
    raise ValueError(
        f"device 'ibm:{name}': could not get the backend from IBM Quantum ({kind}: {detail}); "
        f"check the name and your credentials ({how})."
    )
