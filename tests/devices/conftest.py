"""Fixtures of the device tests."""

import pytest

from qnn_torch.devices import remote


@pytest.fixture
def job_counter(monkeypatch):
    """Counts primitive jobs by patching the primitives' run methods (independent of the device)."""
    counts = {"estimator": 0, "sampler": 0}
    for name, cls in (("estimator", remote.EstimatorV2), ("sampler", remote.SamplerV2)):
        original = cls.run

        def run(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "run", run)
    return counts
