"""Data for the tutorial: seeded random sets and MNIST digits 0/1 (with an offline subset)."""

from .mnist import MnistSplit, load_mnist01
from .tutorial_data import TutorialRandom, tutorial_random

__all__ = ["MnistSplit", "TutorialRandom", "load_mnist01", "tutorial_random"]
