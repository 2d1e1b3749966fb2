"""The engines' one error: an engine that cannot run a circuit hands over to the next."""

__all__ = ["EngineUnavailable"]


class EngineUnavailable(RuntimeError):
    """This engine cannot run this circuit: hand over to the next engine."""
