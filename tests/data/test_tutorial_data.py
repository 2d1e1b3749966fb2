"""The tutorial's random numbers, drawn in the seed's order."""

import numpy as np

from qnn_torch.data import tutorial_random


def test_random_numbers_follow_the_seed_order():
    r = tutorial_random()
    rng = np.random.default_rng(42)
    assert np.array_equal(r.X, 2 * rng.random([20, 2]) - 1)
    assert np.allclose(r.w_estimator[:3], [-0.01256962, 0.06653564, 0.04005302])  # printed by the seed
    assert np.allclose(r.w_sampler, [0.0364991, -0.0720495, -0.06001836, -0.09852755])


def test_every_part_draws_from_one_generator_in_order():
    r, again = tutorial_random(), tutorial_random()
    assert np.array_equal(r.X_reg, again.X_reg) and not np.array_equal(r.X_reg, tutorial_random(seed=7).X_reg)
    assert np.array_equal(r.y, 2 * r.y01 - 1) and set(np.unique(r.y01)) <= {0, 1}
    assert np.all(np.abs(r.y_reg - np.sin(r.X_reg)) <= 0.2) and np.all(np.abs(r.w_regression) <= 0.1)
    assert np.array_equal(r.y01, (r.X.sum(axis=1) >= 0).astype(int))
