"The benchmark harness measures every pipeline alike: its batches built and warmed up before the timer, steady state."
import dataclasses
import re
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import train as bench  # noqa: E402  benchmarks/train.py

from mnist_course.config import make_config  # noqa: E402
from mnist_course.step import resolve_runtime  # noqa: E402


class SlowToStart:
    "Batches whose first pass pays a start-up (as a DataLoader's workers do); later passes do not."
    def __init__(self, startup: float):
        self.startup, self.passes = startup, 0
        self.x, self.y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def __iter__(self):
        if not self.passes: time.sleep(self.startup)
        self.passes += 1
        return iter([(self.x[i:i + 16], self.y[i:i + 16]) for i in range(0, 64, 16)])


def test_start_up_is_paid_before_the_timer_and_passes_repeat_until_min_seconds():
    rt = dataclasses.replace(resolve_runtime(make_config(device="cpu")), bf16=False, channels_last=False)
    batches = SlowToStart(startup=1.0)
    t = time.perf_counter()
    rate = bench.rate("baseline", batches, rt, min_seconds=0.3)
    assert time.perf_counter() - t >= 1.3  # the start-up and at least min_seconds of timed passes
    assert batches.passes >= 3  # the warm-up pass, then passes repeated until min_seconds
    assert rate > 64 / 0.3  # far above the ~60 images/s a timer that paid the start-up could show


def test_contributing_quotes_ratios_from_the_benchmark_files():
    "Every 'N.Nx' ratio in CONTRIBUTING.md's speed section is one that a committed benchmark file prints."
    text = (ROOT / "CONTRIBUTING.md").read_text()
    speed = text[text.index("## Speed and benchmarks"):]
    files = " ".join(p.read_text() for p in (ROOT / "results").glob("benchmarks-*.md"))
    ratios = re.findall(r"\b\d+\.\d+x\b", speed)
    assert ratios and not [r for r in ratios if r not in files]
