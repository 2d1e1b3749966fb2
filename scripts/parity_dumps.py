"""The comparison of two checkouts' result dumps, shared by the parity scripts.

A dump maps a run's key to ``{field: value}``: a tensor, a list of tensors, another value, or (the
field ``generated``) ``{name: source}`` of generated programs; ``scripts/first_call_parity.py`` and
``scripts/threads_parity.py`` write them, one per checkout, each in its own process.
"""

from __future__ import annotations

import torch


def _differs(ta, tb) -> str | None:
    """Why two values of a field differ, or None where they are the same (tensors: ``torch.equal``)."""
    if not isinstance(ta, torch.Tensor):
        return None if ta == tb else "differs"
    if torch.equal(ta, tb):
        return None
    if ta.shape != tb.shape or ta.dtype != tb.dtype:
        return f"differs: {tuple(ta.shape)} {ta.dtype} against {tuple(tb.shape)} {tb.dtype}"
    return f"differs by {float((ta - tb).abs().max()):.3g}"


def compare_dumps(path_a: str, path_b: str) -> int:
    """Print how two dumps differ; 1 if they do, 0 if every tensor is ``torch.equal`` and every
    generated program the same text."""
    a, b = torch.load(path_a, weights_only=False), torch.load(path_b, weights_only=False)
    problems, tensors, programs = [], 0, 0
    if a.keys() != b.keys():
        problems.append(f"different runs: {set(a) ^ set(b)}")
    for key in sorted(set(a) & set(b), key=str):
        ra, rb = a[key], b[key]
        if ra.keys() != rb.keys():
            problems.append(f"{key}: {sorted(ra)} != {sorted(rb)}")
            continue
        for field in ra:
            va, vb = ra[field], rb[field]
            if field == "generated":
                programs += len(va)
                diff = [k for k in set(va) | set(vb) if va.get(k) != vb.get(k)]
                if diff:
                    problems.append(f"{key}: generated code differs: {diff}")
                continue
            for ta, tb in list(zip(va, vb)) if isinstance(va, list) else [(va, vb)]:
                tensors += isinstance(ta, torch.Tensor)
                why = _differs(ta, tb)
                if why:
                    problems.append(f"{key}: {field} {why}")
    errors = sum("error" in r for r in a.values())
    print(f"{len(a)} runs ({errors} refused alike or not), {tensors} tensors torch.equal checked, "
          f"{programs} generated programs/graphs compared as text; {len(problems)} differences")
    for p in problems[:50]:
        print(" ", p)
    return 1 if problems else 0
