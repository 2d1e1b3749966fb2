"""Helpers of the tests that look for a leaked credential: everything an error reporter can show."""

from __future__ import annotations

import traceback


def everything_about(exc: BaseException) -> str:
    """The text of an exception, its whole chain (suppressed contexts too), its notes and every frame's
    locals, as ``traceback.TracebackException(capture_locals=True)`` and ``pytest -l`` show them."""
    text, seen, todo = "", set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        formatted = traceback.TracebackException(type(e), e, e.__traceback__, capture_locals=True)
        text += "".join(formatted.format())
        text += repr(e.args) + "".join(getattr(e, "__notes__", []))
        tb = e.__traceback__
        while tb is not None:
            text += "".join(f"{k}={v!r}" for k, v in tb.tb_frame.f_locals.items())
            tb = tb.tb_next
        todo += [e.__cause__, e.__context__]
    return text
