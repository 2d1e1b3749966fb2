"""The torch adjoint engine (fused blocks, adjoint sweep) on the circuits that exercise its paths:
column-, row- and diagonal-form blocks, layout moves for wires that are not neighbours, sandwich
fusion, wide diagonal gates, Pauli-word and matrix observables, probabilities with a head, the
eager angles of large registers and the sweep without kept states. The oracle is PennyLane's
``default.qubit`` (backprop) on the same circuit description, itself checked against Qiskit."""

from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.quantum_info import SparsePauliOp, Statevector

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, ZZFeatureMap, parity
from qnn_torch.engines import QNodeEngine, TorchAdjointEngine
from qnn_torch.engines import torch_adjoint
from qnn_torch.engines import fused_kernels, sample_threads
from qnn_torch.engines.bit_order import probability_index
from qnn_torch.engines.probabilities import ProbabilityMap
from qnn_torch.engines.row_passes import forward_rows
from tests.engines.vjp_check import check_vjp_contracts_jacobians
from tests.qiskit_reference import reuploading_circuit


def _gates(inputs, weights):
    """Every kind of gate the engine meets, on wires far apart (4 qubits, 4 inputs, 9 weights)."""
    qml.AngleEmbedding(inputs, wires=range(4), rotation="Y")
    qml.CRX(weights[..., 0], wires=[0, 3])
    qml.IsingXX(weights[..., 1] * inputs[..., 0], wires=[1, 3])
    qml.MultiRZ(weights[..., 2], wires=[0, 1, 2, 3])
    qml.QubitUnitary(qml.matrix(qml.CRY(0.7, wires=[0, 1])), wires=[2, 0])
    qml.Rot(weights[..., 3], weights[..., 4], inputs[..., 1], wires=2)
    qml.PauliRot(weights[..., 5], "XY", wires=[3, 1])
    qml.ControlledPhaseShift(weights[..., 6], wires=[3, 0])
    qml.CNOT([3, 0])
    qml.RZ(weights[..., 7] * inputs[..., 2], wires=0)
    qml.CNOT([3, 0])
    qml.IsingYY(weights[..., 8], wires=[0, 2])
    qml.S(1), qml.T(2), qml.SX(3), qml.SWAP([0, 3])


def _reuploading(built):
    qc, inputs, weights = built
    return EstimatorQNN(circuit=qc, input_params=inputs, weight_params=weights, input_gradients=True,
                        observables=[SparsePauliOp("I" * (8 - i) + "Z" + "I" * i) for i in range(9)])


NETWORKS = {
    # the tutorial's shape: column, row and diagonal blocks, ZZ sandwiches
    "zz-linear-ra-10": lambda: EstimatorQNN(10, feature_map=partial(ZZFeatureMap, entanglement="linear")),
    # wires that are not neighbours: full entanglement moves the layout
    "zz-full-ra-full-9": lambda: EstimatorQNN(
        9, feature_map=partial(ZZFeatureMap, reps=1),
        ansatz=partial(RealAmplitudes, reps=1, entanglement="full"),
        observables=[qml.Z(0) @ qml.Z(8), qml.X(4), 0.5 * qml.Y(2) @ qml.X(7) - qml.Z(3)]),
    # a Qiskit circuit: re-uploading with trainable input scaling, a CX ring, <Z_i> on every qubit
    "qiskit-reuploading-9": lambda: _reuploading(reuploading_circuit(9, 2)),
    "gates": lambda: EstimatorQNN(
        4, circuit=_gates, num_inputs=4, num_weights=9,
        observables=[qml.Hermitian(np.diag([1.0, -2.0, 0.5, 3.0]), wires=[0, 2]), qml.Y(1) @ qml.X(3)]),
    "sampler-parity-9": lambda: SamplerQNN(9, feature_map=partial(ZZFeatureMap, reps=1),
                                           interpret=parity, output_shape=2),
    "sampler-probabilities-5": lambda: SamplerQNN(5, feature_map=partial(ZZFeatureMap, reps=1)),
    # 256 probabilities, 24 columns: Jacobians through the state, across column, row, einsum and
    # diagonal blocks
    "sampler-probabilities-full-8": lambda: SamplerQNN(
        8, feature_map=partial(ZZFeatureMap, reps=1),
        ansatz=partial(RealAmplitudes, reps=1, entanglement="full")),
    # a head of 100 classes: more outputs than columns, through the head
    "sampler-head-100-7": lambda: SamplerQNN(7, feature_map=partial(ZZFeatureMap, reps=1),
                                             interpret=lambda b: (b * 7) % 100, output_shape=100),
}


def _compare(qnn, x, w):
    engine = TorchAdjointEngine(qnn.description)
    reference = QNodeEngine(qnn.description, qnn.spec, "backprop", False)
    out, jacobians = engine.values_and_jacobians(x, w, True, True)
    ref_out, ref_jacobians = reference.values_and_jacobians(x, w, True, True)
    assert torch.allclose(engine.values(x, w), ref_out, atol=1e-10, rtol=0)
    assert torch.allclose(out, ref_out, atol=1e-10, rtol=0)
    for j, ref in zip(jacobians, ref_jacobians):
        assert j.shape == ref.shape
        assert torch.allclose(j, ref, atol=1e-10, rtol=0), float((j - ref).abs().max())
    return engine


@pytest.mark.parametrize("network", list(NETWORKS))
def test_equals_default_qubit(network, rng):
    qnn = NETWORKS[network]()
    x = torch.tensor(rng.uniform(-2, 2, (2, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    _compare(qnn, x, w)


def test_paths_are_exercised(rng):
    """The networks above do meet every block form, layout moves and the sandwich fusion."""
    qnn = NETWORKS["zz-full-ra-full-9"]()
    engine = TorchAdjointEngine(qnn.description)
    engine.values(torch.zeros(1, 9, dtype=torch.float64), torch.zeros(qnn.num_weights, dtype=torch.float64))
    steps = engine.plan(None, None).steps
    assert {step.mode for step in steps} == {"diagonal", "row", "column", "einsum"}
    assert any(step.gate.real for step in steps)
    assert any(step.mode == "einsum" and step.gate.real for step in steps)  # real einsum products
    trailing = [2 ** (9 - step.gate.wires[0] - len(step.gate.wires))
                for step in steps if step.mode == "column"]
    assert max(trailing) >= fused_kernels._MIN_PRODUCT_COLUMNS > min(trailing)  # both transition forms


@pytest.mark.parametrize("network", ["zz-linear-ra-10", "qiskit-reuploading-9", "gates"])
def test_per_sample_weights(network, rng):
    qnn = NETWORKS[network]()
    x = torch.tensor(rng.uniform(-2, 2, (3, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, (3, qnn.num_weights)))
    _compare(qnn, x, w)


@pytest.mark.parametrize("network", ["zz-full-ra-full-9", "gates", "sampler-parity-9", "sampler-head-100-7"])
def test_eager_angles_and_undone_states_give_the_same(network, rng, monkeypatch):
    """Large registers compute angles by queuing (no trace), and big batches undo the blocks
    instead of keeping every state: the same numbers either way."""
    qnn = NETWORKS[network]()
    x = torch.tensor(rng.uniform(-2, 2, (2, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 0)
    monkeypatch.setattr(torch_adjoint, "KEEP_STATES_BYTES", 0)
    _compare(qnn, x, w)


@pytest.mark.parametrize("limit", [0, 2**31])
def test_full_jacobians_keep_states_within_the_limit_like_a_vjp(limit, rng, monkeypatch):
    """Full Jacobians keep the forward pass's states only where they fit in the keep limit, like
    the forward pass of a VJP: a GPU batch runs whole, and kept states of 64 samples of 22 qubits
    (34 state vectors of 4 GiB) filled an H200 where bytes_per_sample had counted none."""
    keeps = []

    def spy(*args):
        keeps.append(args[5])
        return forward_rows(*args)

    monkeypatch.setattr(torch_adjoint, "forward_rows", spy)
    monkeypatch.setattr(torch_adjoint, "KEEP_STATES_BYTES", limit)
    qnn = NETWORKS["zz-linear-ra-10"]()
    engine = TorchAdjointEngine(qnn.description)
    x = torch.tensor(rng.uniform(-2, 2, (2, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    engine.values_and_jacobians(x, w, True, True)
    jacobians, keeps[:] = list(keeps), []
    engine.forward_for_vjp(x, w)
    assert jacobians and set(jacobians) == {limit > 0}
    assert keeps and set(keeps) == {limit > 0}


def test_values_match_qiskit_statevector(rng):
    """An independent check of the outputs: Qiskit's own Statevector of the re-uploading circuit."""
    qc, xs, ws = built = reuploading_circuit(9, 2)
    qnn = _reuploading(built)
    x, w = rng.uniform(-2, 2, 9), rng.uniform(-2, 2, len(ws))
    state = Statevector(qc.assign_parameters(dict(zip(xs + ws, list(x) + list(w)))))
    expected = [state.expectation_value(SparsePauliOp("I" * (8 - i) + "Z" + "I" * i)).real for i in range(9)]
    got = TorchAdjointEngine(qnn.description).values(torch.tensor(x)[None], torch.tensor(w))
    assert np.allclose(got.numpy()[0], expected, atol=1e-10)


def test_selected_by_auto_and_by_name():
    assert EstimatorQNN(9).engine == "torch-adjoint"
    assert EstimatorQNN(2, engine="torch-adjoint").engine == "torch-adjoint"
    with pytest.raises(ValueError, match="engine 'torch-adjoint' needs device 'default.qubit' with shots="):
        EstimatorQNN(2, engine="torch-adjoint", shots=10)


def test_probabilities_of_any_count_are_chained():
    """Raw probabilities of a large register run here (their products sweep one bra, their
    Jacobians go through the state); expectation values beyond MAX_OUTPUTS hand over."""
    assert SamplerQNN(12).engine == "torch-adjoint"
    many = [qml.Z(i % 7) for i in range(torch_adjoint.MAX_OUTPUTS + 1)]
    assert EstimatorQNN(7, observables=many).engine == "compiled"


@pytest.mark.parametrize("network", ["sampler-probabilities-5", "sampler-head-100-7"])
@pytest.mark.parametrize("want", [(True, False), (False, True)])
def test_jacobians_through_the_state_give_the_wanted_columns(network, want, rng):
    """Only the wanted tangents are carried, and they are the QNode engine's Jacobians."""
    qnn = NETWORKS[network]()
    x = torch.tensor(rng.uniform(-2, 2, (2, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, (2, qnn.num_weights)))
    engine = TorchAdjointEngine(qnn.description)
    reference = QNodeEngine(qnn.description, qnn.spec, "backprop", False)
    out, jacobians = engine.values_and_jacobians(x, w, *want)
    ref_out, ref_jacobians = reference.values_and_jacobians(x, w, *want)
    assert len(jacobians) == 1 and jacobians[0].shape == ref_jacobians[0].shape
    assert torch.allclose(out, ref_out, atol=1e-10, rtol=0)
    assert torch.allclose(jacobians[0], ref_jacobians[0], atol=1e-10, rtol=0)
    assert engine.values_and_jacobians(x, w, False, False)[1] == []


def test_jacobians_through_the_state_equal_the_sweep_of_bras(rng, monkeypatch):
    """Both ways to Jacobians of probabilities, the tangents and one bra per output, agree."""
    qnn = NETWORKS["sampler-probabilities-full-8"]()
    x = torch.tensor(rng.uniform(-2, 2, (2, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    engine = TorchAdjointEngine(qnn.description)
    calls = []
    through_state = engine._jacobians_through_state
    monkeypatch.setattr(engine, "_jacobians_through_state", lambda *a: calls.append(1) or through_state(*a))
    out, jacobians = engine.values_and_jacobians(x, w, True, True)
    assert calls == [1]  # 256 outputs, 24 columns: the tangents
    bras_out, forward = engine._forward(x, w, True, 0)
    table = engine._constant(engine._table(), x.device)
    (rows,), (saved,) = forward.rows, forward.saved  # one task: 8 qubits are simulated as one batch
    grads = engine._gradients([engine._sweep(forward.psi[rows], saved, table[:, None, :] * forward.psi[None],
                                             False)])
    bras_jac = torch.matmul(grads.permute(1, 0, 2), forward.dtheta)
    assert torch.allclose(out, bras_out, atol=1e-12, rtol=0)
    assert torch.allclose(torch.cat(jacobians, -1), bras_jac, atol=1e-10, rtol=0)


@pytest.mark.parametrize("wires, columns", [([[4, 3, 2, 1, 0]], 2), ([[4, 3, 2, 1, 0]], None), ([[3, 1]], 3),
                                            ([[0, 2], [4]], 2), ([[1], [3, 0]], None)])
def test_probability_table_is_the_one_hot_table_through_the_head(wires, columns, rng):
    """Built without the ``(2**n, 2**n)`` one-hot table (1.3 s at 12 qubits), the same numbers."""
    one_hot = np.concatenate([np.eye(2 ** len(w))[probability_index(5, w)] for w in wires], axis=-1)
    head = None if columns is None else rng.choice([0.0, 1.0, -0.5, 0.25], size=(one_hot.shape[1], columns))
    table = ProbabilityMap(5, wires, head).table()
    assert table.flags.c_contiguous and table.dtype == np.float64
    assert np.array_equal(table, (one_hot if head is None else one_hot @ head).T)


@pytest.mark.parametrize("network", ["zz-full-ra-full-9", "qiskit-reuploading-9", "gates",
                                     "sampler-parity-9", "sampler-probabilities-full-8",
                                     "sampler-head-100-7"])
@pytest.mark.parametrize("batched_weights", [False, True])
def test_vector_jacobian_product_equals_the_contracted_jacobians(network, batched_weights, rng):
    qnn = NETWORKS[network]()
    check_vjp_contracts_jacobians(TorchAdjointEngine(qnn.description), qnn, batched_weights, rng, spread=2.0)


@pytest.mark.slow
def test_torch_connector_backward_through_the_sweep(rng):
    """A model on the torch adjoint engine takes the one-sweep backward pass, and its gradients
    equal the compiled engine's (whose product is one backward pass through its graph)."""
    from qnn_torch import TorchConnector

    x = torch.tensor(rng.uniform(-1, 1, (4, 9)), requires_grad=True)
    grads = []
    for engine in ("torch-adjoint", "compiled"):
        qnn = EstimatorQNN(9, engine=engine, observables=[qml.Z(0), qml.X(3) @ qml.Y(8), qml.Y(4)])
        model = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, qnn.num_weights))
        calls = []
        qnn.vjp = lambda *args, _vjp=qnn.vjp: calls.append(1) or _vjp(*args)
        (model(x) * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
        assert len(calls) == 1  # a pending product, not eager Jacobians
        grads.append((x.grad.clone(), model.weight.grad.clone()))
        x.grad = None
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-10)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-6)  # float32 weights


def test_bytes_per_sample_counts_the_kept_states(monkeypatch, rng):
    """One kept state per block of the circuit's plan, the same before the first call (the plan is
    analysed from the structure; it was one per gate, five times as many here) as after it."""
    qnn = NETWORKS["zz-full-ra-full-9"]()
    engine = TorchAdjointEngine(qnn.description)
    state = 16 * 2**9
    before = engine.bytes_per_sample(call="jacobians")
    blocks = len(engine.plan(None, None).steps)
    assert blocks < engine.num_gates() / 4 and before == state * (8 + 2 * 3 + blocks)
    engine.values(torch.tensor(rng.uniform(-1, 1, (2, 9))), torch.tensor(rng.uniform(-1, 1, qnn.num_weights)))
    assert len(engine.plan(None, None).steps) == blocks
    assert engine.bytes_per_sample(call="jacobians") == before
    assert engine.bytes_per_sample(call="values") == state * 8
    monkeypatch.setattr(torch_adjoint, "KEEP_STATES_BYTES", state * blocks - 1)  # not even one sample's
    # no kept states: the sweep undoes the gates on a copy of the 3 bras and the state
    assert engine.bytes_per_sample(call="jacobians") == state * (8 + 6 + 3 + 1)


def test_large_registers_ask_for_freed_memory_to_be_kept(rng, monkeypatch):
    """From FREED_MEMORY_QUBITS, a call on the CPU first asks the C library to keep freed memory."""
    calls = []
    monkeypatch.setattr(torch_adjoint, "keep_freed_memory", lambda: calls.append(1) or True)
    qnn = NETWORKS["gates"]()
    engine = TorchAdjointEngine(qnn.description)
    x, w = torch.tensor(rng.uniform(-2, 2, (2, 4))), torch.tensor(rng.uniform(-2, 2, 9))
    monkeypatch.setattr(torch_adjoint, "FREED_MEMORY_QUBITS", 5)
    engine.values(x, w)
    assert calls == []
    monkeypatch.setattr(torch_adjoint, "FREED_MEMORY_QUBITS", 4)
    engine.values(x, w)
    assert calls == [1]


@pytest.mark.slow
def test_sub_batches_give_the_whole_batch(rng, monkeypatch):
    """Large registers run in cache-sized sub-batches: the same values, Jacobians and products."""
    qnn = NETWORKS["zz-full-ra-full-9"]()
    x = torch.tensor(rng.uniform(-2, 2, (5, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    engine = TorchAdjointEngine(qnn.description)
    whole = engine.values_and_jacobians(x, w, True, True)
    g = torch.tensor(rng.normal(size=(5, 3)))
    whole_vjp = engine.vjp(engine.forward_for_vjp(x, w)[1], g, True, True)
    monkeypatch.setattr(torch_adjoint, "CACHE_BYTES", 16 * 2**9 * 2)  # two samples per sub-batch
    assert len(list(engine._pieces(x, w))) == 3
    split = engine.values_and_jacobians(x, w, True, True)
    assert torch.allclose(engine.values(x, w), whole[0], atol=1e-12, rtol=0)
    assert torch.allclose(split[0], whole[0], atol=1e-12, rtol=0)
    for a, b in zip(split[1], whole[1]):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)
    values, saved = engine.forward_for_vjp(x, w)
    assert torch.allclose(values, whole[0], atol=1e-12, rtol=0)
    for a, b in zip(engine.vjp(saved, g, True, True), whole_vjp):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("path", ["kept", "eager", "undone"])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_on_cuda_equals_the_cpu(network, path, rng, monkeypatch):
    """Every path (column, row, einsum, diagonal blocks, products for transition matrices, Pauli
    words, heads, eager then compiled angles, sweeps that undo the gates as a large batch does) on
    CUDA tensors: results on the GPU, equal to the CPU's."""
    if path == "eager":
        monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 0)
    if path == "undone":
        monkeypatch.setattr(torch_adjoint, "KEEP_STATES_BYTES", 0)
    qnn = NETWORKS[network]()
    x = torch.tensor(rng.uniform(-2, 2, (3, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    g = torch.tensor(rng.normal(size=(3, qnn.output_shape[0])))
    cpu = TorchAdjointEngine(qnn.description)
    gpu = TorchAdjointEngine(qnn.description)
    expected = cpu.values_and_jacobians(x, w, True, True)
    expected_vjp = cpu.vjp(cpu.forward_for_vjp(x, w)[1], g, True, True)
    for _ in range(2):  # eager angles first, a compiled program next
        out, jacobians = gpu.values_and_jacobians(x.cuda(), w.cuda(), True, True)
        assert out.device.type == "cuda" and all(j.device.type == "cuda" for j in jacobians)
        assert torch.allclose(out.cpu(), expected[0], atol=1e-10, rtol=0)
        for a, b in zip(jacobians, expected[1]):
            assert torch.allclose(a.cpu(), b, atol=1e-10, rtol=0)
        values, saved = gpu.forward_for_vjp(x.cuda(), w.cuda())
        for a, b in zip(gpu.vjp(saved, g.cuda(), True, True), expected_vjp):
            assert a.device.type == "cuda" and torch.allclose(a.cpu(), b, atol=1e-10, rtol=0)


@pytest.fixture
def sample_workers(monkeypatch):
    """Worker threads for every batch of two samples or more (two torch threads in the test's
    thread); returns the list of worker counts the engine's calls asked for."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    asked = []

    def recording(task, items, threads):
        asked.append(threads)
        return sample_threads.map_samples(task, items, threads)

    monkeypatch.setattr(torch_adjoint, "map_samples", recording)
    yield asked
    torch.set_num_threads(before)


def _everything(engine, x, w, g):
    out, jacobians = engine.values_and_jacobians(x, w, True, True)
    weights_only = engine.values_and_jacobians(x, w, False, True)[1]  # the tangents of the weights alone
    values, saved = engine.forward_for_vjp(x, w)
    return [engine.values(x, w), out, *jacobians, *weights_only, values, *engine.vjp(saved, g, True, True)]


@pytest.mark.parametrize("batch", [3, 5])
def test_a_sub_batch_of_one_sample_keeps_torch_s_threads(batch, sample_workers, rng, monkeypatch):
    """Sub-batches of two samples (two states in ``CACHE_BYTES``): those of two run on workers
    with the calling thread on one torch thread (:func:`~.sample_threads.one_calling_thread`);
    the last of an odd batch, one sample, has no workers and keeps the calling thread's two torch
    threads, as before (one thread in all would be slower)."""
    qnn = NETWORKS["sampler-parity-9"]()
    monkeypatch.setattr(torch_adjoint, "CACHE_BYTES", 16 * 2**qnn.description.num_qubits * 2)
    monkeypatch.setattr(sample_threads, "MIN_AMPLITUDES", 1)
    seen = []
    recording = torch_adjoint.map_samples  # the fixture's: it records the workers asked for
    monkeypatch.setattr(torch_adjoint, "map_samples",
                        lambda task, items, threads: seen.append((threads, torch.get_num_threads()))
                        or recording(task, items, threads))
    x = torch.tensor(rng.uniform(-2, 2, (batch, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    g = torch.tensor(rng.normal(size=(batch, qnn.output_shape[0])))
    _everything(TorchAdjointEngine(qnn.description), x, w, g)
    assert set(seen) == {(2, 1), (0, 2)}


@pytest.mark.parametrize("path", ["kept", "undone", "eager", "sub-batches", "per-sample weights",
                                  "three samples"])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_samples_on_worker_threads_give_the_batch_s_bits(network, path, sample_workers, rng, monkeypatch):
    """Each sample on a worker thread gives, to the last bit, what the whole batch gives in the
    calling thread on one torch thread (the calling thread's own operations run on one thread while
    the samples are on workers, :func:`~.sample_threads.one_calling_thread`): the same operations
    on each row, and the fused matrices, moved generators,
    diagonal gates' tangent phases, a product's bras, outputs, products through the outputs' map and
    diagonal gates' derivatives made for the whole batch, as one batch makes them. The networks
    cover the bras' sweeps, the probabilities' product (``diag(L g) psi``) and the Jacobians
    through the state (raw probabilities, a head of 100 classes)."""
    qnn = NETWORKS[network]()
    # tasks of one sample and two, or of two and three; sub-batches of two samples, none of one (which
    # has no workers and keeps torch's threads: test_a_sub_batch_of_one_sample_keeps_torch_s_threads)
    batch = 3 if path == "three samples" else 4 if path == "sub-batches" else 5
    x = torch.tensor(rng.uniform(-2, 2, (batch, qnn.num_inputs)))
    shape = (batch, qnn.num_weights) if path == "per-sample weights" else qnn.num_weights
    w = torch.tensor(rng.uniform(-2, 2, shape))
    g = torch.tensor(rng.normal(size=(batch, qnn.output_shape[0])))
    monkeypatch.setattr(torch_adjoint, "KEEP_STATES_BYTES", 0 if path == "undone" else 2**31)
    monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 0 if path == "eager" else 14)
    if path == "sub-batches":
        monkeypatch.setattr(torch_adjoint, "CACHE_BYTES", 16 * 2**qnn.description.num_qubits * 2)
    monkeypatch.setattr(sample_threads, "MIN_AMPLITUDES", 2**40)
    torch.set_num_threads(1)
    batch = _everything(TorchAdjointEngine(qnn.description), x, w, g)
    assert set(sample_workers) == {0}
    torch.set_num_threads(2)
    monkeypatch.setattr(sample_threads, "MIN_AMPLITUDES", 1)
    threaded = _everything(TorchAdjointEngine(qnn.description), x, w, g)
    assert set(sample_workers) == {0, 2}
    for a, b in zip(threaded, batch, strict=True):
        assert torch.equal(a, b), float((a - b).abs().max())
