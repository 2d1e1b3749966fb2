"""``defer_dynamo_import``: torch's optimizers train without importing the compiler stack, with the
same numbers, and compile as before once something imports it.

Each case runs in a fresh process (``torch._dynamo`` is imported once per process); the oracle is
the same script without the deferral.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

TRAINING = """
import json, sys, torch
torch.manual_seed(7)
if {before}:  # Adam.step hooked before the deferral, as unpickling an Adam does (no add_param_group)
    torch.optim.Adam.__new__(torch.optim.Adam)._patch_step_function()
if {defer}:
    import qnn_torch
    deferred = qnn_torch.defer_dynamo_import()
calls = []
from torch.optim.optimizer import register_optimizer_step_post_hook
register_optimizer_step_post_hook(lambda *args: calls.append(1))
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
x, y = torch.randn(16, 3), torch.randn(16, 1)
optimizers = [torch.optim.Adam(model.parameters(), lr=0.05), torch.optim.AdamW(model.parameters(), lr=0.05),
              torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9),
              torch.optim.RMSprop(model.parameters())]
for optimizer in optimizers:
    for _ in range(3):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    optimizer.load_state_dict(optimizer.state_dict())
lbfgs = torch.optim.LBFGS(model.parameters(), max_iter=5)
def closure():
    lbfgs.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    return loss
lbfgs.step(closure)
weights = torch.nn.utils.parameters_to_vector(model.parameters()).double().tolist()
print(json.dumps({{"dynamo": "torch._dynamo" in sys.modules, "weights": weights, "hooks": len(calls)}}))
"""

COMPILED = """
import json, sys, torch
if {defer}:
    import qnn_torch
    qnn_torch.defer_dynamo_import()
weight = torch.nn.Parameter(torch.linspace(-1, 1, 5))
optimizer = torch.optim.Adam([weight], lr=0.1)
def step():
    optimizer.zero_grad()
    loss = (weight.sin() ** 2).sum()
    loss.backward()
    optimizer.step()
    return loss
step()
compiled = torch.compile(step, backend="eager")
losses = [compiled().item() for _ in range(3)]
print(json.dumps({{"losses": losses, "weights": weight.double().tolist()}}))
"""


def _run(script: str, **fields) -> dict:
    proc = subprocess.run([sys.executable, "-c", script.format(**fields)], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("before", [False, True], ids=["deferred-first", "step-hooked-first"])
def test_optimizers_train_without_the_compiler_and_with_the_same_numbers(before):
    plain = _run(TRAINING, before=before, defer=False)
    deferred = _run(TRAINING, before=before, defer=True)
    assert plain["dynamo"]  # the premise: torch's own optimizers import it
    assert not deferred["dynamo"]
    assert deferred["weights"] == plain["weights"]
    assert deferred["hooks"] == plain["hooks"] == 13  # the step hooks still run


@pytest.mark.slow
def test_torch_compile_after_the_deferral_compiles_as_before():
    assert _run(COMPILED, defer=True) == _run(COMPILED, defer=False)


def test_the_deferral_is_idempotent_and_stops_once_the_compiler_is_imported():
    code = ("import sys, qnn_torch; first = qnn_torch.defer_dynamo_import(); "
            "second = qnn_torch.defer_dynamo_import(); import torch._dynamo; "
            "print(first, second, qnn_torch.defer_dynamo_import())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second, after = map(int, proc.stdout.split())
    assert first > 0 and second == 0 and after == 0
