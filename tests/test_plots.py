"""The tutorial's figures: what each shows, and real PNG files for every part."""

from types import SimpleNamespace

import numpy as np

from qnn_torch.plots import mnist_losses_figure, regression_figure, save_part_plots


def test_regression_plot_shows_sin_under_the_fit():
    grid = np.linspace(-np.pi, np.pi, 50)
    fig = regression_figure(grid[:5], np.sin(grid[:5]), grid, np.sin(grid))  # a perfect fit: over sin(x)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    sin, fit = lines["sin(x)"], lines["QNN fit"]
    assert sin.get_zorder() < fit.get_zorder() < lines["training data"].get_zorder()
    assert sin.get_linewidth() >= 3 * fit.get_linewidth()  # a wide band that shows around the fit
    assert sin.get_color() != fit.get_color() and sin.get_linestyle() == "-"


def test_mnist_loss_plot_explains_the_negative_loss():
    ax = mnist_losses_figure([-0.57, -1.2, -2.46]).axes[0]
    assert "not log-probabilities" in ax.get_title() and "negative" in ax.get_title()
    assert "NLLLoss" in ax.get_ylabel()


def test_each_part_writes_its_pngs(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(0)
    X, labels = rng.uniform(-1, 1, (20, 2)), rng.integers(0, 2, 20)
    grid = np.linspace(-np.pi, np.pi, 50)
    parts = [
        SimpleNamespace(name="classification-sampler", accuracy=0.8,
                        extra={"X": X, "labels": labels, "predicted": 1 - labels}),
        SimpleNamespace(name="regression", extra={"X": grid[:5], "y": np.sin(grid[:5]), "grid": grid,
                                                  "fit": np.sin(grid)}),
        SimpleNamespace(name="unknown", extra={}),
    ]
    written = [path for part in parts for path in save_part_plots(part, tmp_path)]
    assert [p.name for p in written] == ["classification-sampler.png", "regression.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and mpimg.imread(path).std() > 0.01
