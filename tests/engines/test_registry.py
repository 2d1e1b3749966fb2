"""The registry: every engine by its ``engine=`` name, in chain order."""

from qnn_torch.engines import ENGINE_CHOICES, ENGINES, Engine


def test_names_are_the_engine_argument_and_in_chain_order():
    assert list(ENGINES) == ["adjoint", "torch-adjoint", "compiled", "qnode"]
    assert ENGINE_CHOICES == ("auto", "adjoint", "torch-adjoint", "compiled", "qnode")
    assert all(issubclass(cls, Engine) and cls.name == name for name, cls in ENGINES.items())
    orders = [cls.order for cls in ENGINES.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert [cls.builds_graph for cls in ENGINES.values()] == [False, False, True, True]
    assert [cls.runs_on_device for cls in ENGINES.values()] == [False, False, False, True]
