"""Circuits' structure keys and the plans and angle programs the adjoint engines share by them: a second
network of one structure reuses the first's analysis and computes the same numbers, and networks that
differ in any part the analysis reads never share (each checked against the QNode engine)."""

import gc
from functools import partial

import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap
from qnn_torch.engines import numpy_adjoint, torch_adjoint
from qnn_torch.engines.decomposition import queue_tracked
from qnn_torch.engines.structure_key import SharedAnalyses, structure_key

ENGINES = ["adjoint", "torch-adjoint"]


def _templates(n=3, reps=2, entanglement="linear", **kw):
    return EstimatorQNN(n, feature_map=partial(ZZFeatureMap, reps=reps, entanglement=entanglement),
                        ansatz=partial(RealAmplitudes, reps=1), **kw)


def _body(second=0.3, wires=(0, 1, 2), offset=0, swap=False):
    """A circuit function: a constant gate, views of the inputs at an offset, the ansatz on ``wires``."""

    def body(inputs, weights):
        qml.AngleEmbedding(inputs[..., offset:offset + 3], wires=range(3))
        qml.RZ(second, wires=1)
        first, other = (weights[..., 6], inputs[..., 0]) if swap else (inputs[..., 0], weights[..., 6])
        qml.RY(first, wires=0)
        qml.RX(other, wires=2)
        RealAmplitudes(weights[..., :6], wires=list(wires), reps=1)

    return body


def _function(body, **kw):
    return EstimatorQNN(3, circuit=body, num_inputs=6, num_weights=7, **kw)


def _parity(interpret=lambda b: bin(b).count("1") % 2, **kw):
    return SamplerQNN(3, feature_map=ZZFeatureMap, ansatz=partial(RealAmplitudes, reps=1),
                      interpret=interpret, output_shape=2, **kw)


PAIRS = {  # two networks that differ in one part the analysis reads
    "observable": (partial(_templates, observables=[qml.Z(0)]), partial(_templates, observables=[qml.X(0)])),
    "coefficient": (partial(_templates, observables=[qml.s_prod(0.5, qml.Z(2))]),
                    partial(_templates, observables=[qml.s_prod(0.25, qml.Z(2))])),
    "hyperparameter": (partial(_templates, entanglement="linear"), partial(_templates, entanglement="full")),
    "repetitions": (partial(_templates, reps=1), partial(_templates, reps=2)),
    "constant": (partial(_function, _body(0.3)), partial(_function, _body(0.7))),
    "wires": (partial(_function, _body(wires=(0, 1, 2))), partial(_function, _body(wires=(2, 0, 1)))),
    "view-offset": (partial(_function, _body(offset=0)), partial(_function, _body(offset=3))),
    "inputs-or-weights": (partial(_function, _body(swap=False)), partial(_function, _body(swap=True))),
    "head": (_parity, partial(_parity, interpret=lambda b: int(b in (1, 6)))),
}


def _run(qnn, batch: int = 3):
    """Outputs and input and weight gradients of a float64 TorchConnector, for fixed values."""
    gen = torch.Generator().manual_seed(7)
    weights = torch.rand(qnn.num_weights, generator=gen, dtype=torch.float64)
    model = TorchConnector(qnn, initial_weights=weights)
    model.weight.data = model.weight.data.double()
    x = (torch.rand(batch, qnn.num_inputs, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    out = model(x)
    g = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return (out.detach(), *torch.autograd.grad((out * g).sum(), (x, model.weight)))


def _shared(qnn, engine: str):
    """The entry the engine shares: its angle programs' cache."""
    instance = qnn._engines.instance(engine)
    angles = instance._angles if engine == "adjoint" else instance._plan.angles
    return angles._programs


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("field", list(PAIRS))
def test_networks_differing_in_one_part_do_not_share(field, engine):
    make_first, make_second = PAIRS[field]
    first, second = make_first(engine=engine), make_second(engine=engine)
    _run(first)  # analysed; its analysis stays shared while ``first`` lives
    got = _run(second)
    assert first.engine == second.engine == engine
    assert _shared(first, engine) is not _shared(second, engine)
    for a, b in zip(got, _run(make_second(engine="qnode"))):
        assert torch.allclose(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("make", [_templates, partial(_function, _body()), _parity],
                         ids=["templates", "function", "head"])
def test_a_second_network_of_one_structure_shares_and_computes_the_same_numbers(make, engine):
    first, second = make(engine=engine), make(engine=engine)
    want = _run(first)
    got = _run(second)
    assert _shared(first, engine) is _shared(second, engine)
    for a, b in zip(got, want):
        assert torch.equal(a, b)


def _key(body, x=None, w=None):
    qnn = _function(body)
    x = torch.zeros(1, 6, dtype=torch.float64) if x is None else x
    w = torch.zeros(7, dtype=torch.float64) if w is None else w
    return structure_key(qnn.description, *queue_tracked(qnn.description, x, w))


def test_the_key_holds_numbers_by_their_bits_not_their_values():
    assert _key(_body(0.0)) == _key(_body(0.0))
    assert _key(_body(0.0)) != _key(_body(-0.0))  # equal as numbers, another sign of zero in the angles
    assert _key(_body(0.3)) != _key(_body(torch.tensor(0.3, dtype=torch.float64)))  # a type of its own
    assert _key(_body(torch.tensor(0.3))) != _key(_body(torch.tensor(0.3, dtype=torch.float64)))
    assert _key(_body(torch.tensor(0.3))) == _key(_body(torch.tensor(0.3)))


def test_the_key_does_not_depend_on_the_values_of_inputs_and_weights():
    values = torch.rand(1, 6, dtype=torch.float64), torch.rand(7, dtype=torch.float64)
    assert _key(_body()) == _key(_body(), *values)
    assert _key(_body()) != _key(_body(), torch.zeros(2, 6, dtype=torch.float64))  # another batch shape


def test_angles_computed_from_the_inputs_give_no_key():
    def scaled(factor):
        def body(inputs, weights):
            qml.RY(factor * inputs[..., 0], wires=0)
            qml.RX(weights[..., 0], wires=0)
        return body

    assert _key(scaled(2.0)) is None  # the product is no view of the inputs: analysed on its own

    def untracked(inputs, weights):
        with torch.no_grad():  # a view autograd does not track back to the inputs
            angle = inputs[..., 0]
        qml.RY(angle, wires=0)

    assert _key(untracked) is None
    networks = [EstimatorQNN(1, circuit=scaled(f), num_inputs=6, num_weights=7, engine="adjoint")
                for f in (2, 3)]
    results = [_run(qnn) for qnn in networks]
    for qnn, got in zip(networks, results):
        want = _run(EstimatorQNN(1, circuit=qnn._form.body, num_inputs=6, num_weights=7, engine="qnode"))
        for a, b in zip(got, want):
            assert torch.allclose(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("module", [numpy_adjoint, torch_adjoint], ids=ENGINES)
def test_shared_analyses_live_only_as_long_as_an_engine_holds_them(module):
    engine = module.NumpyAdjointEngine.name if module is numpy_adjoint else module.TorchAdjointEngine.name
    gc.collect()
    before = len(module._SHARED)
    networks = [_templates(reps=3, entanglement="circular", engine=engine) for _ in range(2)]
    for qnn in networks:
        _run(qnn)
    assert len(module._SHARED) == before + 1
    del networks, qnn
    gc.collect()
    assert len(module._SHARED) == before


def test_a_none_key_is_never_shared():
    shared = SharedAnalyses()
    first = shared.get_or_make(None, lambda: "plan")
    assert shared.get_or_make(None, lambda: "plan") is not first and len(shared) == 0
