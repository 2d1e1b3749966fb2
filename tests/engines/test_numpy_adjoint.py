"""The NumPy adjoint engine: the QNode engine's numbers on every kind of gate and measurement, the
structure it finds, and the registers it takes."""

import itertools
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, PauliFeatureMap, RealAmplitudes, SamplerQNN, ZZFeatureMap
from qnn_torch.devices import resolve_device
from qnn_torch.engines import monomial, numpy_adjoint
from qnn_torch.engines.numpy_adjoint import AUTO_MAX_QUBITS, MAX_QUBITS_PROBABILITIES, NumpyAdjointEngine
from qnn_torch.engines.decomposition import circuit_leaves
from qnn_torch.engines.fusion import embed
from qnn_torch.engines.structure_key import SharedAnalyses
from tests.engines.cases import CASES, assert_equals_the_qnode_engine


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("batch", [1, 5])
def test_equals_the_qnode_engine(case, batch, rng):
    assert_equals_the_qnode_engine("adjoint", case, batch, rng)


def _ansatz_then_hadamards(w, wires):
    RealAmplitudes(w, wires=wires, reps=1)
    for wire in wires:  # a last constant matrix that is not a permutation: it cannot fold into probabilities
        qml.Hadamard(wire)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [EstimatorQNN, SamplerQNN])
@pytest.mark.parametrize("ansatz", ["real-amplitudes", "then-hadamards"])
def test_eight_qubits_equal_the_compiled_engine(kind, ansatz, rng):
    """The largest register the engine takes, with many outputs for probabilities."""
    block = partial(RealAmplitudes, reps=1) if ansatz == "real-amplitudes" else _ansatz_then_hadamards
    make = partial(kind, 8, feature_map=partial(ZZFeatureMap, reps=1), ansatz=block, num_weights=16
                   if ansatz == "then-hadamards" else None)
    adjoint, compiled = make(engine="adjoint"), make(engine="compiled")
    w = rng.uniform(-1, 1, adjoint.num_weights)
    x = torch.tensor(rng.uniform(-1, 1, (3, 8)))
    outs = []
    for qnn in (adjoint, compiled):
        out, jacobians = qnn.differentiate(x, torch.tensor(w))
        outs.append([out, *jacobians])
    for a, b in zip(*outs):
        assert torch.allclose(a, b, atol=1e-10)


def test_batched_weights(rng):
    qnn = CASES["custom-gates"](engine="adjoint")
    x = torch.tensor(rng.uniform(-1, 1, (4, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-1, 1, (4, qnn.num_weights)))
    with torch.no_grad():
        together = qnn.evaluate(x, w)
        alone = torch.cat([qnn.evaluate(x[i:i + 1], w[i]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-12)


@pytest.mark.parametrize("op, kind", [
    (qml.RZ(0.1, 0), "diagonal"), (qml.RX(0.1, 0), "pauli"), (qml.IsingXX(0.1, [0, 1]), "pauli"),
    (qml.RY(0.1, 0), "pauli"), (qml.Hermitian(np.array([[1.0, 0.5], [0.5, -1.0]]), 0), "dense"),
])
def test_generators_are_classified(op, kind):
    if isinstance(op, qml.Hermitian):
        h = op.matrix()
    else:
        h = qml.matrix(qml.generator(op, format="observable"), wire_order=[0, 1])
    assert numpy_adjoint._kind(np.asarray(h, dtype=np.complex128))[0] == kind


def _near_scaled_identity(rng, a2: float) -> np.ndarray:
    """``a2 * I`` with a few entries moved by 1e-13 to 1e-3, sometimes a NaN or an infinity."""
    d = int(rng.integers(1, 6))
    noise = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    moved = (rng.random((d, d)) < 0.3) * noise * 10.0 ** rng.uniform(-13, -3)
    square = a2 * np.eye(d, dtype=np.complex128) + moved
    if rng.random() < 0.1:
        odd = rng.choice([np.nan, np.inf, -np.inf, complex(np.inf, -np.inf)])
        square[rng.integers(d), rng.integers(d)] = odd
    return square


@pytest.mark.parametrize("a2", [0.25, 1.0, 1e-3, 7.0, np.inf, np.nan])
def test_the_pauli_test_answers_as_allclose(a2, rng):
    """The classification's cheaper tests decide as the NumPy calls they replace (the oracles):
    ``np.allclose(square, a2 * I, atol=1e-10)`` and every off-diagonal entry under the tolerance."""
    for _ in range(2000):
        with np.errstate(invalid="ignore", over="ignore"):  # infinities times zeros
            square = _near_scaled_identity(rng, a2)
        with np.errstate(invalid="ignore", over="ignore"):
            close = np.allclose(square, a2 * np.eye(len(square)), atol=1e-10)
            assert numpy_adjoint._is_scaled_identity(square, a2) == close
            small = np.all(np.abs(square - np.diag(np.diag(square))) < numpy_adjoint._TOL)
            assert numpy_adjoint._is_diagonal(square) == small


def test_repeated_gates_share_their_register_matrices(rng):
    """A layer's gates repeat: their register forms and generators' kinds are made once and read
    only (a segment that wrote to one would change the others); fixed gates and generators that
    meet a dense matrix are applied on their own wires, so this circuit makes no register matrix;
    the numbers match PennyLane's."""
    qnn = EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=2), ansatz=partial(RealAmplitudes, reps=2),
                       engine="adjoint", input_gradients=True)
    engine = NumpyAdjointEngine(qnn.description)
    x, w = torch.tensor(rng.uniform(-1, 1, (2, 3))), torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
    made = []
    original = numpy_adjoint.NumpyAdjointEngine._expanded
    engine._expanded = lambda matrix, wires: made.append(1) or original(engine, matrix, wires)
    plan = engine.plan(x, w)
    _, leaves, _ = circuit_leaves(qnn.description, x, w)
    assert plan.num_angles and len(leaves) > 30 and not made
    ry = qml.RY(0.3, 1)
    cache = {}
    generator = engine._generator(cache, numpy_adjoint.generator_matrix(ry), (1,))
    assert generator is engine._generator(cache, numpy_adjoint.generator_matrix(ry), (1,))
    assert generator.label == "pauli"
    assert not any(a.flags.writeable for a in [*generator.info[1:], *generator.rows])
    hadamard = qml.Hadamard(2)
    matrix = engine._embedded(cache, numpy_adjoint.fixed_matrix(hadamard), (2,))
    assert not matrix.flags.writeable
    reference = EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=2),
                             ansatz=partial(RealAmplitudes, reps=2), engine="qnode", input_gradients=True)
    for a, b in zip([*qnn.differentiate(x, w)[1]], [*reference.differentiate(x, w)[1]], strict=True):
        assert torch.allclose(a, b, atol=1e-10)


def test_zz_feature_map_keeps_its_phases_diagonal(rng):
    """The ZZ feature map's phases (and the CNOT sandwiches around them) stay one diagonal segment
    per layer of phases, and no dense generator is needed for ZZFeatureMap + RealAmplitudes."""
    qnn = EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=1), ansatz=partial(RealAmplitudes, reps=1))
    engine = NumpyAdjointEngine(qnn.description)
    plan = engine.plan(torch.zeros(1, 3, dtype=torch.float64), torch.zeros(6, dtype=torch.float64))
    kinds = [type(segment).__name__ for segment in plan.segments]
    assert "_Dense" not in kinds and "_Diagonal" in kinds and "_Pauli" in kinds
    assert plan.num_angles == 3 + 3 + 6  # phases, ZZ phases, RY angles


@pytest.mark.parametrize("kind, limit", [(EstimatorQNN, AUTO_MAX_QUBITS),
                                         (SamplerQNN, MAX_QUBITS_PROBABILITIES)])
def test_auto_takes_it_up_to_its_limit(kind, limit):
    spec = resolve_device("default.qubit", limit + 1)
    small = kind(limit, feature_map=qml.AngleEmbedding).description
    large = kind(limit + 1, feature_map=qml.AngleEmbedding).description
    assert NumpyAdjointEngine.accepts(small, spec, None) and not NumpyAdjointEngine.accepts(large, spec, None)


def test_gates_register_forms_are_made_once_per_process_and_never_a_dense_matrix(monkeypatch, rng):
    """A second network of another structure on as many qubits finds the forms of the gates the
    first one used (read-only, small); a dense generator's register matrix is never kept; the plans
    are the same numbers as with nothing kept."""
    monkeypatch.setattr(numpy_adjoint, "_forms", {})
    monkeypatch.setattr(numpy_adjoint, "_SHARED", SharedAnalyses())  # no plan of a live engine of the tests
    made = []
    original = numpy_adjoint._kind
    monkeypatch.setattr(numpy_adjoint, "_kind", lambda h: made.append(h.shape) or original(h))

    def plan(reps, ansatz=RealAmplitudes):
        qnn = EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=reps),
                           ansatz=partial(ansatz, reps=reps))
        x, w = torch.tensor(rng.uniform(-1, 1, (2, 3))), torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
        return NumpyAdjointEngine(qnn.description).plan(x, w)

    plan(1)
    small = [shape for shape in made if shape[0] < 8]  # gates classified on their own wires
    made.clear()
    second = plan(2)
    assert small and not [shape for shape in made if shape[0] < 8]  # every gate's form was kept
    forms = [a for form in numpy_adjoint._forms.values() for a in numpy_adjoint._arrays(form)]
    assert forms and not any(a.flags.writeable for a in forms) and max(a.size for a in forms) <= 8
    monkeypatch.setattr(numpy_adjoint, "_forms", {})
    fresh = plan(2)
    for a, b in zip(second.segments, fresh.segments, strict=True):
        assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in vars(a) if f != "index")
    rot = qml.CRX(0.3, [0, 2])  # a dense generator: its register matrix is the analysis' own
    engine = NumpyAdjointEngine(EstimatorQNN(3).description)
    engine._generator({}, numpy_adjoint.generator_matrix(rot), (0, 2))
    kept = [a for form in numpy_adjoint._forms.values() for a in numpy_adjoint._arrays(form)]
    assert not [a for a in kept if a.size > 8]


def _dense_segments(engine, leaves):
    """The oracle: the segments as the engine made them before row forms, by dense products."""
    segments, count = [], 0
    pending, identity = np.eye(engine.dim, dtype=np.complex128), True
    for kind, op in leaves:
        wires = tuple(int(w) for w in op.wires)
        if kind == "fixed":
            pending = engine._expanded(numpy_adjoint.fixed_matrix(op), wires) @ pending
            identity = False
            continue
        generator = engine._expanded(numpy_adjoint.generator_matrix(op), wires)
        label, info = numpy_adjoint._kind(generator)
        if not identity:
            moved = pending.conj().T @ generator @ pending
            moved_label, moved_info = numpy_adjoint._kind(moved)
            if moved_label != "dense":
                generator, label, info = moved, moved_label, moved_info
            else:
                segments.append(numpy_adjoint._Fixed(pending.T.copy()))
                pending, identity = np.eye(engine.dim, dtype=np.complex128), True
        engine._add_angle(segments, count, generator, label, info)
        count += 1
    return segments, (None if identity else pending), count


class _Tilted(qml.operation.Operation):
    """A rotation about an axis between X and Y: a Pauli-like generator whose entries are neither
    real nor imaginary."""

    num_wires = 1
    num_params = 1

    def generator(self):
        return 0.5 * (0.6 * qml.X(self.wires[0]) + 0.8 * qml.Y(self.wires[0]))


def _phases_everywhere(w, wires):
    """Fixed gates with phases other than 1, -1, i and -i (T, PhaseShift, RZ constants) and with
    them (S, S^dagger, CZ), next to CNOTs; Pauli-word, diagonal and dense generators."""
    qml.T(0), qml.PhaseShift(0.3, 1), qml.CNOT([0, 1]), qml.RX(w[0], 0), qml.RZ(w[1], 1)
    qml.S(2), qml.CNOT([1, 2]), qml.RY(w[2], 2), qml.RZ(0.77, 0), qml.CZ([0, 2]), qml.IsingXY(w[3], [0, 1])
    qml.adjoint(qml.S(1)), qml.CNOT([2, 0]), qml.PauliRot(w[4], "XY", [1, 2]), qml.RX(w[5], 0)
    qml.CNOT([0, 1]), qml.MultiRZ(w[0], [0, 1, 2]), qml.SWAP([0, 2]), qml.RY(w[1], 0)
    qml.CNOT([1, 2]), _Tilted(w[3], wires=1), qml.CZ([0, 1]), _Tilted(w[2], wires=0)


@pytest.mark.parametrize("circuit", ["phases", "templates", "pauli-words"])
def test_segments_are_the_dense_products(circuit, rng):
    """Row forms, forms kept per process, products on the gates' own wires and the moved
    generators give the plan the dense products gave, whatever the phases of the fixed gates: the
    same segments, and the same numbers to round-off. (Bit for bit where BLAS adds a product's
    terms in order, its terms with zeros changing nothing, as seen here; the row forms' products
    are exact anywhere.)"""
    if circuit == "phases":
        qnn = EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=1), ansatz=_phases_everywhere,
                           num_weights=6)
    elif circuit == "templates":
        qnn = EstimatorQNN(4, feature_map=partial(ZZFeatureMap, reps=2),
                           ansatz=partial(RealAmplitudes, reps=3))
    else:
        qnn = EstimatorQNN(4, feature_map=partial(PauliFeatureMap, reps=2, paulis=("Y", "XZ", "ZIY")),
                           ansatz=partial(RealAmplitudes, reps=2, entanglement="circular"))
    x = torch.tensor(rng.uniform(-1, 1, (2, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
    _, leaves, _ = circuit_leaves(qnn.description, x, w)
    engine = NumpyAdjointEngine(qnn.description)
    for _ in range(2):  # the second time from the forms kept
        segments, pending, count = engine._segments(leaves)
        expected, expected_pending, expected_count = _dense_segments(engine, leaves)
        assert count == expected_count and [type(s) for s in segments] == [type(s) for s in expected]
        assert (pending is None) == (expected_pending is None)
        assert pending is None or np.allclose(pending, expected_pending, rtol=0, atol=1e-14)
        for a, b in zip(segments, expected):
            for field in vars(b):
                if field == "rows":  # a gather's arrays (the same in both): what it applies, below
                    assert (a.rows is None) == (b.rows is None)
                elif field != "index" and getattr(b, field) is not None:
                    assert np.allclose(getattr(a, field), getattr(b, field), rtol=0, atol=1e-14), \
                        (type(a).__name__, field)
            if isinstance(b, numpy_adjoint._Pauli):
                states = rng.normal(size=(3, engine.dim)) + 1j * rng.normal(size=(3, engine.dim))
                dense = monomial.dense((b.rows[0], b.rows[1])) if b.rows is not None else b.hermitian
                assert np.allclose(a.transposed_times(states), states @ dense.T, rtol=0, atol=1e-14)
                assert np.allclose(a.times(states), states @ dense, rtol=0, atol=1e-14)


def test_only_exact_products_take_the_row_form():
    """Fixed gates take the row form only with phases 1, -1, i and -i, and Pauli-like generators
    only with real or imaginary entries: other products may round otherwise than BLAS's."""
    engine = NumpyAdjointEngine(EstimatorQNN(2).description)
    tilted, ry = _Tilted(0.3, wires=0), qml.RY(0.3, wires=0)
    assert engine._generator({}, numpy_adjoint.generator_matrix(tilted), (0,)).rows is None
    assert engine._generator({}, numpy_adjoint.generator_matrix(ry), (0,)).rows is not None
    start = monomial.identity(4)
    gates = [(qml.S(0), True), (qml.CZ([0, 1]), True), (qml.T(0), False), (qml.PhaseShift(0.3, 0), False)]
    for gate, row_form in gates:
        after = engine._then({}, numpy_adjoint.fixed_matrix(gate), tuple(gate.wires), start)
        assert isinstance(after, tuple) == row_form, gate.name


@pytest.mark.parametrize("n", range(1, 7))
def test_a_gate_on_its_wires_is_its_register_matrix_times(n, rng):
    """A gate applied on its own wires (wires in any order, adjacent or not) gives the product of
    its register matrix (``embed``, checked against PennyLane's) with a dense matrix, to round-off."""
    dense = rng.normal(size=(2**n, 2**n)) + 1j * rng.normal(size=(2**n, 2**n))
    for k in range(1, min(n, 3) + 1):
        for wires in itertools.permutations(range(n), k):
            matrix = rng.normal(size=(2**k, 2**k)) + 1j * rng.normal(size=(2**k, 2**k))
            expected = embed(matrix, wires, tuple(range(n))) @ dense
            product = numpy_adjoint._gate_times(matrix, wires, n, dense)
            assert np.allclose(product, expected, rtol=0, atol=1e-13), wires


def test_a_phase_gate_on_its_wires_equals_pennylanes_register_matrix():
    """``embed``'s own oracle: the register matrix ``qml.matrix`` builds, for a gate on wires in
    reversed order (the gate's index is not the register's)."""
    gate = qml.ControlledPhaseShift(0.4, wires=[2, 0])
    register = qml.matrix(gate, wire_order=range(3))
    product = numpy_adjoint._gate_times(qml.matrix(gate), (2, 0), 3, np.eye(8, dtype=np.complex128))
    assert np.allclose(product, register, rtol=0, atol=1e-15)


_Z_WORDS = [qml.Z(0), qml.Z(2), qml.Z(1) @ qml.Z(2), qml.Z(0) @ qml.Z(1) @ qml.Z(2), 0.3 * qml.Z(2),
            -1.7 * (qml.Z(0) @ qml.Z(2)), qml.Identity(1), 2.5 * qml.Identity(0)]
_OTHERS = [qml.X(0), qml.Z(0) + qml.Z(1), qml.Z(0) @ qml.Y(1), qml.Hermitian(np.diag([1.0, 2.0]), 0),
           1j * qml.Z(0), qml.Z(0) @ qml.Z(0)]


@pytest.mark.parametrize("obs", _Z_WORDS, ids=str)
def test_a_z_word_observable_is_its_matrix_diagonal(obs):
    """An observable that is a word of Z's (times a real number) gives the diagonal of its matrix
    bit for bit (every product is by +-1), without building the matrix."""
    engine = NumpyAdjointEngine(EstimatorQNN(3).description)
    expected = np.real(np.diag(engine._matrix(obs)))
    assert engine._z_word(obs).tobytes() == expected.tobytes()


@pytest.mark.parametrize("obs", _OTHERS, ids=str)
def test_other_observables_take_their_matrix(obs):
    engine = NumpyAdjointEngine(EstimatorQNN(3).description)
    diagonal = engine._z_word(obs)
    assert diagonal is None or diagonal.tobytes() == np.real(np.diag(engine._matrix(obs))).tobytes()
    if not isinstance(obs, qml.ops.Prod):  # Z(0) @ Z(0), the identity, is a Z word
        assert diagonal is None


@pytest.mark.parametrize("observables", [[qml.Z(0) @ qml.Z(1)],
                                         [qml.Z(1), qml.X(0) @ qml.X(1), -0.5 * qml.Z(0)]],
                         ids=["diagonal", "with-a-matrix"])
def test_z_words_give_the_numbers_of_their_matrices(observables, rng, monkeypatch):
    """The outputs and Jacobians with Z words read as diagonals are those with their matrices, bit
    for bit, also beside a non-diagonal observable (whose outputs take every observable's matrix)."""
    x = torch.tensor(rng.uniform(-1, 1, (3, 2)))
    w = torch.tensor(rng.uniform(-1, 1, 8))

    def run():
        monkeypatch.setattr(numpy_adjoint, "_SHARED", SharedAnalyses())  # a plan of its own
        qnn = EstimatorQNN(2, feature_map=partial(ZZFeatureMap, reps=1), observables=observables,
                           engine="adjoint", input_gradients=True)
        return NumpyAdjointEngine(qnn.description)(x, w, jacobian=True)

    fast = run()
    monkeypatch.setattr(NumpyAdjointEngine, "_z_word", lambda self, obs: None)
    slow = run()
    for a, b in zip(fast, slow):
        assert np.array_equal(a, b)


def test_pauli_rotations_with_exact_phases_are_gathers(rng):
    """A Pauli-like rotation whose phases are 1, -1, i or -i is applied as a gather (no
    ``2**n x 2**n`` matrix kept), one with other phases as a dense product; both give the dense
    rotation's numbers."""
    engine = NumpyAdjointEngine(EstimatorQNN(2).description)
    ry = numpy_adjoint.generator_matrix(qml.RY(0.3, wires=0))
    tilted = numpy_adjoint.generator_matrix(_Tilted(0.3, wires=0))
    segments = []
    for index, generator in enumerate([ry, tilted]):
        register = embed(generator, (0,), (0, 1))
        label, info = numpy_adjoint._kind(register)
        engine._add_angle(segments, index, register, label, info)
    gather, dense = segments
    assert gather.matrix is None and gather.rows is not None
    assert dense.rows is None and dense.matrix is not None
    states = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    for segment, generator in zip(segments, [ry, tilted]):
        pauli = embed(generator, (0,), (0, 1)) / segment.scale
        assert np.allclose(segment.transposed_times(states), states @ pauli.T, rtol=0, atol=1e-15)
        assert np.allclose(segment.times(states), states @ pauli, rtol=0, atol=1e-15)
    # in C order, as a product's, for a sweep's bras (outputs, batch, 2**n): the sums over the last
    # axis after them then add in the same order (a fancy index's result is laid out otherwise)
    bras = rng.normal(size=(5, 1, 4)) + 1j * rng.normal(size=(5, 1, 4))
    assert gather.times(bras).flags.c_contiguous and gather.transposed_times(bras).flags.c_contiguous
