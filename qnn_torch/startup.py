"""A process's one-off costs: torch's compiler stack imported only when something compiles.

The first ``torch.optim`` optimizer of a process imports ``torch._dynamo`` (about 1.3 s on a
2-core machine): ``Optimizer.add_param_group`` is wrapped in ``torch._disable_dynamo``, which
imports the compiler on its first call so as to exclude the function from compilation, and the
``step`` of Adam, SGD and most others imports it on every call to mark graph breaks. Where
``torch._dynamo`` has not been imported, nothing compiles: excluding a function and marking a
break change nothing. :func:`defer_dynamo_import` lets those functions skip the compiler until
something else imports it (``torch.compile``); from then on they do what torch's do.
"""

from __future__ import annotations

import functools
import sys
import types

from ._compat import dynamo_disabled_function, optimizer_step_grad_mode

__all__ = ["defer_dynamo_import"]

_DISABLE_ATTRIBUTE = "__dynamo_disable"  # where torch's wrapper keeps the disabled function


def _compiler_imported() -> bool:
    return "torch._dynamo" in sys.modules


class _DisabledOnceCompiling:
    """Calls ``fn`` directly while ``torch._dynamo`` is not imported, and from the first call
    after its import on, ``torch._dynamo.disable(fn, recursive)`` (what torch's wrapper calls)."""

    def __init__(self, fn, recursive: bool):
        self.fn, self.recursive = fn, recursive

    def __call__(self, *args, **kwargs):
        if not _compiler_imported():  # nothing compiles without it
            return self.fn(*args, **kwargs)
        import torch._dynamo

        disabled = torch._dynamo.disable(self.fn, self.recursive, wrapping=False)
        setattr(self.fn, _DISABLE_ATTRIBUTE, disabled)  # torch's wrapper calls it from now on
        return disabled(*args, **kwargs)


def _grad_mode_step(func, use_grad):
    """An optimizer's ``step`` that does what torch's ``use_grad`` wrapper does without marking
    graph breaks while ``torch._dynamo`` is not imported, and calls ``use_grad`` from then on."""
    import torch

    @functools.wraps(use_grad)
    def step(*args, **kwargs):
        if _compiler_imported():
            return use_grad(*args, **kwargs)
        previous = torch.is_grad_enabled()
        try:
            torch.set_grad_enabled(args[0].defaults["differentiable"])
            return func(*args, **kwargs)
        finally:
            torch.set_grad_enabled(previous)

    step.__qnn_torch_deferred__ = True
    return step


def _optimizer_classes() -> list:
    """``torch.optim.Optimizer`` and its subclasses, defined so far."""
    import torch.optim

    classes, pending = [], [torch.optim.Optimizer]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    return classes


def _defer_disabled(owner) -> int:
    """Defers the ``torch._disable_dynamo`` functions of ``owner`` (a class or a module)."""
    deferred = 0
    for value in list(vars(owner).values()):
        target = dynamo_disabled_function(value)
        if target is None or not isinstance(target[0], types.FunctionType):
            continue
        fn, recursive = target
        if getattr(fn, _DISABLE_ATTRIBUTE, None) is None:
            setattr(fn, _DISABLE_ATTRIBUTE, _DisabledOnceCompiling(fn, recursive))
            deferred += 1
    return deferred


def _defer_step(cls) -> int:
    """Replaces ``cls.step`` when torch's ``use_grad`` wrapper makes it (see :func:`_grad_mode_step`)."""
    parts = optimizer_step_grad_mode(vars(cls).get("step"))
    if parts is None:
        return 0
    func, use_grad, hooked = parts
    step = _grad_mode_step(func, use_grad)
    if hooked:  # the profiling wrapper an instance put around it, put around ours
        step = cls.profile_hook_step(step)
        step.hooked = True
    cls.step = step
    return 1


def defer_dynamo_import() -> int:
    """Keep torch's optimizers from importing PyTorch's compiler stack until something compiles.

    torch's optimizers wrap ``add_param_group``, ``zero_grad``, ``state_dict`` and
    ``load_state_dict`` (and ``torch.utils.checkpoint.checkpoint``) in ``torch._disable_dynamo``,
    which imports ``torch._dynamo`` on its first call, about 1.3 s, to exclude them from
    compilation; the ``step`` of Adam, AdamW, SGD and most others imports it to mark graph breaks.
    After this call they skip the compiler for as long as ``torch._dynamo`` is not imported, with
    the same results; once something imports it (``torch.compile``), they do what torch's do.
    ``qnn-torch`` calls it at start-up. Optimizer classes defined later are included by calling
    it again.

    Returns:
        int: the number of functions deferred (0 once ``torch._dynamo`` is imported).

    Example:
        >>> import torch
        >>> import qnn_torch
        >>> _ = qnn_torch.defer_dynamo_import()
        >>> weight = torch.nn.Parameter(torch.ones(2))
        >>> optimizer = torch.optim.Adam([weight], lr=0.5)
        >>> (weight**2).sum().backward()
        >>> optimizer.step()
        >>> weight.detach()
        tensor([0.5000, 0.5000])
    """
    if _compiler_imported():
        return 0
    import torch.utils.checkpoint

    classes = _optimizer_classes()
    return (sum(_defer_disabled(owner) for owner in [*classes, torch.utils.checkpoint])
            + sum(_defer_step(cls) for cls in classes))
