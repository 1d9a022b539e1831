"""Seconds to draw and save lesson 12's error gallery: a matplotlib axes per digit vs one image, a caption per digit.

Every evaluation (`mnist-course evaluate`, `reproduce`, lesson 12 and 19's ensembles) writes `errors.png`, up to 400
misclassified test digits with their true label, prediction and probability. The reference draws it the usual way,
a grid of subplots with one `imshow` and one title each (how `plot_errors` drew it until 2026-11-28); against it,
the course's `plot_errors`: the digits pasted into one masked image, one `imshow`, a text caption per digit. Both
draw the same digits in the same order and save a PNG at the evaluation's dpi (110, tight bounding box) into memory.
The probabilities are made up, so that the number of errors is exact: `--errors` of the 10,000 test digits are
wrong. Prints one table: the median seconds of `--repeats` drawings and the ratio to the reference.

    python benchmarks/figures.py [--source DIR] [--root DIR] [--errors 40 400] [--repeats 5]
"""
import argparse
import io
import statistics
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mnist_course.data import load_mnist
from mnist_course.evaluate import plot_errors
from mnist_course.machine import describe_machine


def axes_per_digit(x, y: np.ndarray, probs: np.ndarray, title: str = "", cols: int = 20, most: int = 400):
    "The reference: the same gallery as a grid of subplots, one imshow and one title per digit."
    wrong = np.nonzero(probs.argmax(1) != y)[0]
    shown = wrong[np.argsort(probs[wrong].max(1), kind="stable")][:most]
    rows = max(1, -(-len(shown) // cols))
    fig, axs = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 1.0 + 0.4), squeeze=False)
    for ax in axs.flat: ax.axis("off")
    for ax, i in zip(axs.flat, shown):
        ax.imshow(np.asarray(x[i]), cmap="gray")
        ax.set_title(f"{y[i]}→{probs[i].argmax()} {probs[i].max():.2f}", fontsize=6)
    fig.suptitle(f"{title}: {len(shown)} misclassified test digits", fontsize=9)
    return fig


def made_up_probabilities(y: np.ndarray, errors: int, seed: int = 0) -> np.ndarray:
    "Probabilities that are right on every image but `errors` chosen ones, with confidences spread over (0.2, 1)."
    rng = np.random.default_rng(seed)
    pred = y.copy()
    wrong = rng.choice(len(y), errors, replace=False)
    pred[wrong] = (y[wrong] + rng.integers(1, 10, errors)) % 10
    conf = rng.uniform(0.2, 1.0, len(y))
    probs = np.tile(((1 - conf) / 9)[:, None], (1, 10))
    probs[np.arange(len(y)), pred] = conf
    return probs


def seconds(draw, repeats: int) -> float:
    "Median wall seconds of drawing the figure and saving it as a PNG in memory."
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fig = draw()
        fig.savefig(io.BytesIO(), format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source",
                   help="folder with the four official MNIST files (default: $MNIST_COURSE_DATA, else download)")
    p.add_argument("--root", help="where prepared data lives")
    p.add_argument("--errors", type=int, nargs="+", default=[40, 400],
                   help="misclassified digits to draw (default: 40 400)")
    p.add_argument("--repeats", type=int, default=5, help="drawings per row; the median is shown (default: 5)")
    args = p.parse_args()
    ds = load_mnist(args.source, args.root)
    x, y = ds.test_x, ds.test_y.numpy()
    print(f"# error gallery benchmark: {describe_machine('cpu')['hardware']}, matplotlib {matplotlib.__version__}, "
          f"median of {args.repeats} drawings, PNG at dpi 110\n")
    print("| errors drawn | gallery | seconds | x reference |")
    print("|---|---|---|---|")
    for n in args.errors:
        probs = made_up_probabilities(y, n)
        ref = seconds(lambda: axes_per_digit(x, y, probs, "made up"), args.repeats)
        ours = seconds(lambda: plot_errors(x, y, probs, "made up"), args.repeats)
        for name, s in (("reference: an axes per digit", ref),
                        ("mnist_course plot_errors: one image, a caption per digit", ours)):
            print(f"| {n:,} | {name} | {s:.2f} | {ref / s:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
