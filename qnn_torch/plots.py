"""PNG figures for the tutorial parts (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["mnist_losses_figure", "plot_classification", "plot_mnist_losses", "plot_mnist_predictions",
           "plot_regression", "regression_figure", "save_part_plots"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_classification(X, labels, predicted, title, path):
    """Points coloured by class, misclassified ones ringed in red, and the true boundary."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    positive = labels == labels.max()
    ax.scatter(X[positive, 0], X[positive, 1], c="tab:blue", label="x0 + x1 >= 0")
    ax.scatter(X[~positive, 0], X[~positive, 1], c="tab:green", label="x0 + x1 < 0")
    wrong = predicted != labels
    ax.scatter(X[wrong, 0], X[wrong, 1], s=220, facecolors="none", edgecolors="red", linewidths=2,
               label="misclassified")
    ax.plot([-1, 1], [1, -1], "--", color="black")
    ax.set(title=title, xlabel="x0", ylabel="x1", xlim=(-1.1, 1.1), ylim=(-1.1, 1.1))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def regression_figure(X, y, grid, fit):
    """The regression figure: sin(x) as a wide pale band under the fitted curve, which is drawn
    on top as a thin line, so both stay visible where they coincide; the samples on top of both."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(grid, np.sin(grid), "-", color="tab:red", linewidth=7, alpha=0.3, zorder=1, label="sin(x)")
    ax.plot(grid, fit, "-", color="tab:green", linewidth=1.8, zorder=2, label="QNN fit")
    ax.plot(X, y, "o", color="tab:blue", markersize=5, zorder=3, label="training data")
    ax.set(title="Regression with an EstimatorQNN", xlabel="x", ylabel="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_regression(X, y, grid, fit, path):
    """The noisy samples, sin(x) and the trained network's curve (see :func:`regression_figure`)."""
    return _save(regression_figure(X, y, grid, fit), path)


def mnist_losses_figure(losses):
    """Mean training loss per epoch, with a title saying why it is negative.

    The model's two outputs are ``(x, 1 - x)``, not log-probabilities, so ``NLLLoss`` (minus the
    output of the true class) goes below zero as training pushes ``x`` above 1: the seed
    tutorial's loss, reproduced as it is.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.4))
    ax.plot(range(1, len(losses) + 1), losses, "o-")
    ax.axhline(0, color="gray", linewidth=0.8, zorder=0)
    ax.set(title="Hybrid CNN-QNN training\n"
                 "NLLLoss of raw outputs (x, 1 - x), not log-probabilities: it can be negative",
           xlabel="epoch", ylabel="NLLLoss = -(output of the true class)")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def plot_mnist_losses(losses, path):
    """Mean training loss per epoch (see :func:`mnist_losses_figure`)."""
    return _save(mnist_losses_figure(losses), path)


def _save(fig, path) -> Path:
    plt = _pyplot()
    try:
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


def plot_mnist_predictions(model, dataset, path, count: int = 6):
    """The first ``count`` test images with the model's predictions."""
    import torch

    plt = _pyplot()
    fig, axes = plt.subplots(1, count, figsize=(10, 2.6))
    model.eval()
    with torch.no_grad():
        for ax, index in zip(axes, range(count)):
            image, label = dataset[index * (len(dataset) // count)]
            predicted = int(model(image.unsqueeze(0)).argmax(dim=1))
            ax.imshow(image[0].numpy(), cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"pred {predicted} (true {int(label)})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def save_part_plots(result, out_dir) -> list[Path]:
    """Write the PNGs of one :class:`~qnn_torch.tutorial.PartResult` into ``out_dir``."""
    out = Path(out_dir)
    e = result.extra
    if result.name.startswith("classification"):
        title = f"{result.name} (accuracy {result.accuracy:.2f})"
        return [plot_classification(e["X"], e["labels"], e["predicted"], title, out / f"{result.name}.png")]
    if result.name == "regression":
        return [plot_regression(e["X"], e["y"], e["grid"], e["fit"], out / "regression.png")]
    if result.name == "mnist-hybrid":
        return [plot_mnist_losses(result.losses, out / "mnist-hybrid-loss.png"),
                plot_mnist_predictions(e["model"], e["test"], out / "mnist-hybrid-predictions.png")]
    return []
