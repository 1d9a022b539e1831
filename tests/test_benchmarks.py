"The benchmark harness measures every pipeline alike: its batches built and warmed up before the timer, steady state."
import dataclasses
import re
import sys
import time
from pathlib import Path

import pytest
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


def test_fastest_cpu_tiny_prints_every_candidate_against_quick_and_a_choice_per_target(source, capsys):
    "benchmarks/fastest_cpu.py --tiny: one row per candidate, the reference at 1.00x, a validation choice per target."
    import fastest_cpu  # benchmarks/fastest_cpu.py
    fastest_cpu.main(["--tiny", "--source", str(source)])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "candidate" not in line]
    assert [r.split(" | ")[0][2:] for r in rows] == list(fastest_cpu.CANDIDATES)
    assert "| 1.00x |" in rows[0] and "[" in rows[0]  # the reference, and a t-interval over 2 seeds
    assert [t for t in fastest_cpu.TARGETS if f"- {t:.1%}: " in out] == list(fastest_cpu.TARGETS)


def test_fastest_cpu_chooses_the_fastest_candidate_that_reaches_the_target_on_validation():
    import fastest_cpu
    rows = [dict(name="slow", val=0.995, seconds=50.0), dict(name="fast", val=0.991, seconds=20.0),
            dict(name="fastest", val=0.985, seconds=10.0)]
    assert fastest_cpu.chosen(rows, 0.990)["name"] == "fast"
    assert fastest_cpu.chosen(rows, 0.995)["name"] == "slow"
    assert fastest_cpu.chosen(rows, 0.999) is None


def test_fastest_cpu_refuses_one_seed_as_a_usage_error(capsys):
    "An interval over seeds needs two: --seeds 1 is a usage error (exit 2) that names the value, before any training."
    import fastest_cpu
    with pytest.raises(SystemExit) as stop:
        fastest_cpu.main(["--seeds", "1"])
    assert stop.value.code == 2 and "--seeds 1" in capsys.readouterr().err


def test_fastest_cpu_confirms_one_candidate_on_fresh_seeds_beside_the_reference(source, capsys):
    "--confirm NAME --first-seed 5: the reference and that candidate only, on seeds 5 and 6 (tiny)."
    import fastest_cpu
    fastest_cpu.main(["--tiny", "--source", str(source), "--confirm", "3 x 60,000 images", "--first-seed", "5"])
    out = capsys.readouterr().out
    rows = [l for l in out.splitlines() if l.startswith("| ") and not l.startswith("| candidate")]
    assert [r.split(" | ")[0][2:] for r in rows] == [fastest_cpu.REFERENCE, "3 x 60,000 images"]
    assert "2 seeds each (5-6)" in out and "on these fresh seeds" in out and "Chosen on validation" not in out
