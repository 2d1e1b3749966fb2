"""IBM Quantum credentials, and keeping them out of every message.

The token comes from the ``QISKIT_IBM_TOKEN`` environment variable or the account saved with
``QiskitRuntimeService.save_account``; it is never printed, logged, stored or chained.
"""

from __future__ import annotations

import os

__all__ = ["TOKEN_VARIABLE", "ibm_backend", "known_secrets", "scrub_secrets"]

TOKEN_VARIABLE = "QISKIT_IBM_TOKEN"
"""str: the environment variable that may hold the IBM Quantum token."""

_TOKEN_VAR = TOKEN_VARIABLE


def known_secrets() -> list[str]:
    """The IBM tokens this process could leak: ``QISKIT_IBM_TOKEN`` and the saved account's."""
    secrets = [os.environ.get(_TOKEN_VAR)]
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


def _runtime_backend(name: str):
    # The only frame that holds the token, and only as an argument expression: no local
    # variable of ours keeps it for a traceback to show.
    from qiskit_ibm_runtime import QiskitRuntimeService

    if os.environ.get(_TOKEN_VAR):
        return QiskitRuntimeService(token=os.environ.get(_TOKEN_VAR)).backend(name)
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
    has_token = bool(os.environ.get(_TOKEN_VAR))
    try:
        return _runtime_backend(name)
    except Exception as err:  # noqa: BLE001 - re-raised below with a clean message, token scrubbed
        kind = type(err).__name__
        detail = scrub_secrets(str(err)).splitlines()[0][:200] if str(err) else ""
    # raised here, outside the handler, so that the service's error (its message, its frames'
    # locals such as QiskitRuntimeService(token=...)) is not even the __context__
    how = (
        f"set the {_TOKEN_VAR} environment variable or save an account once with "
        "QiskitRuntimeService.save_account(token=..., set_as_default=True)"
    )
    if "AccountNotFound" in kind or (not has_token and "account" in detail.lower()):
        raise ValueError(f"device 'ibm:{name}' needs IBM Quantum credentials: {how}.")
    raise ValueError(
        f"device 'ibm:{name}': could not get the backend from IBM Quantum ({kind}: {detail}); "
        f"check the name and your credentials ({how})."
    )
