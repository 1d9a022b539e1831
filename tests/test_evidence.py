"""The evidence module (lesson 14) against cases worked by hand: closed forms where they exist, and tables' values
(Student's t, the binomial) where they do not. scipy computes; these check that each function asks it the right
question and reads the answer the right way round."""
import math

import numpy as np
import pytest

from mnist_course.evidence import (CONSISTENT, HIGHER, LOWER, NOT_DETECTABLE, RULED_OUT, UNDECIDED, VERDICTS, Evidence,
                                   accuracy, compare_seeds, compare_shares, landing, mcnemar, paired, seed_mean,
                                   seeds_to_see, share, smallest_detectable, welch)

Z = 1.959963984540054           # the normal's 97.5% point
T2, T4 = 4.302652729749464, 2.7764451051977987  # Student's t, 97.5% point, 2 and 4 degrees of freedom


def test_wilson_interval_is_the_closed_form():
    "Wilson's interval for 9,950 right of 10,000, written out: the ±0.14 points of lesson 14."
    k, n = 9950, 10_000
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    e = accuracy(k, n)
    assert (e.estimate, e.n) == (0.995, n)
    assert e.low == pytest.approx(centre - half, abs=1e-12) and e.high == pytest.approx(centre + half, abs=1e-12)
    assert round((e.high - e.low) / 2 * 100, 2) == 0.14


def test_clopper_pearson_at_the_ends_is_the_closed_form():
    "None of n: [0, 1 - 0.025^(1/n)]; all of n: [0.025^(1/n), 1]; 1 of 10: [1 - 0.975^(1/10), 0.4450] (R's binom.test)."
    assert share(0, 10).low == 0 and share(0, 10).high == pytest.approx(1 - 0.025 ** 0.1, abs=1e-9)
    assert share(10, 10).low == pytest.approx(0.025 ** 0.1, abs=1e-9) and share(10, 10).high == 1
    one = share(1, 10)
    assert one.low == pytest.approx(1 - 0.975 ** 0.1, abs=1e-9) and one.high == pytest.approx(0.445016, abs=1e-6)
    assert accuracy(1, 10, method="exact").high == pytest.approx(one.high, abs=1e-12)


def test_seed_mean_is_the_t_interval():
    "0.90, 0.91, 0.92: mean 0.91, standard error 0.01/sqrt(3), t(2) = 4.3027; one seed has no interval."
    e = seed_mean([0.90, 0.91, 0.92])
    assert (round(e.estimate, 12), e.n, e.verdict) == (0.91, 3, None)
    half = T2 * 0.01 / math.sqrt(3)
    assert e.low == pytest.approx(0.91 - half) and e.high == pytest.approx(0.91 + half)
    one = seed_mean([0.99])
    assert one.verdict == UNDECIDED and math.isnan(one.low) and "1 seed" in str(one)


def test_paired_difference_by_hand():
    "Differences 2, 3, 4: mean 3, sd 1, t = 3 sqrt(3) with 2 degrees of freedom, where p = 1 - t / sqrt(t^2 + 2)."
    e = paired([3, 4, 5], [1, 1, 1])
    assert e.estimate == 3 and e.verdict == HIGHER and e.of == "3 paired seeds"
    assert e.low == pytest.approx(3 - T2 / math.sqrt(3)) and e.high == pytest.approx(3 + T2 / math.sqrt(3))
    t = 3 * math.sqrt(3)
    assert e.p == pytest.approx(1 - t / math.sqrt(t**2 + 2), rel=1e-9)  # Student's t with 2 degrees of freedom
    assert e.detectable == pytest.approx(T2 / math.sqrt(3)) == smallest_detectable(1.0, 3)
    assert paired([1, 1, 1], [3, 4, 5]).verdict == LOWER


def test_welch_difference_by_hand():
    """1, 2, 3 against 4, 5, 6: -3, standard error sqrt(2/3), Welch's degrees of freedom exactly 4, where
    P(|T| > t) = 1 - (3/4) x (1 - x^2 / 12) with x = t / sqrt(1 + t^2 / 4)."""
    e = welch([1, 2, 3], [4, 5, 6])
    assert e.estimate == -3 and e.verdict == LOWER and e.of == "3 and 3 seeds"
    half = T4 * math.sqrt(2 / 3)
    assert e.low == pytest.approx(-3 - half) and e.high == pytest.approx(-3 + half)
    t = 3 / math.sqrt(2 / 3)
    x = t / math.sqrt(1 + t**2 / 4)
    assert e.p == pytest.approx(1 - 0.75 * x * (1 - x**2 / 12), rel=1e-9)
    assert e.detectable == pytest.approx(half) == pytest.approx(smallest_detectable(1.0, 3, paired=False))


def test_compare_seeds_pairs_only_the_same_seeds():
    "The same seeds: paired, seed by seed whatever the order given; other seeds: Welch's."
    a, b = {0: 0.9951, 1: 0.9944, 2: 0.9947}, {2: 0.9945, 0: 0.9946, 1: 0.9940}
    assert compare_seeds(a, b).of == "3 paired seeds"
    assert compare_seeds(a, b).estimate == pytest.approx(np.mean([0.0005, 0.0004, 0.0002]))
    assert compare_seeds(a, {3: 0.99, 4: 0.98}).of == "3 and 2 seeds"
    assert compare_seeds({0: 0.99}, {0: 0.98}).verdict == UNDECIDED


def test_a_difference_inside_its_interval_is_not_detectable_and_says_how_small_it_could_be():
    "Nesterov against momentum, lesson 14's numbers: every seed above, +0.10 points, not detectable with 3 seeds."
    e = paired([0.9793, 0.9793, 0.9795], [0.9776, 0.9789, 0.9786])
    assert e.verdict == NOT_DETECTABLE and e.low < 0 < e.high
    assert e.says == "not detectable with 3 paired seeds (smallest detectable: 0.16 points)"
    assert str(e).startswith("+0.10 points [-0.06, +0.26], 3 paired seeds, p = 0.12: not detectable")


def test_mcnemar_is_the_binomial_test_on_discordant_images():
    "a alone right on 10 images, b alone on 2, 100 both: p = 2 (1 + 12 + 66) / 4096 = 0.0386, a - b = 8/112."
    a = np.array([True] * 10 + [False] * 2 + [True] * 100)
    b = np.array([False] * 10 + [True] * 2 + [True] * 100)
    e = mcnemar(a, b)
    assert e.p == pytest.approx(2 * (1 + 12 + 66) / 4096) and e.estimate == pytest.approx(8 / 112)
    assert e.n == 12 and e.of == "12 discordant of 112 test images" and e.verdict == HIGHER
    lo, hi = share(10, 12).low, share(10, 12).high  # the share of discordant images for a, as a difference
    assert e.low == pytest.approx((2 * lo - 1) * 12 / 112) and e.high == pytest.approx((2 * hi - 1) * 12 / 112)
    same = mcnemar(a, a)
    assert (same.estimate, same.verdict) == (0, NOT_DETECTABLE)


def test_fisher_by_hand():
    "1 of 10 against 0 of 10: p = 1 (lesson 14); 5 of 5 against 0 of 5: p = 2 / C(10, 5) = 0.0079."
    e = compare_shares(1, 10, 0, 10)
    assert e.p == pytest.approx(1.0) and e.verdict == NOT_DETECTABLE and e.estimate == pytest.approx(0.1)
    strong = compare_shares(5, 5, 0, 5)
    assert strong.p == pytest.approx(2 / math.comb(10, 5)) and strong.verdict == HIGHER
    assert compare_shares(0, 5, 5, 5).verdict == LOWER


def test_landing_consistent_ruled_out_undecided():
    """One seed in the band: consistent; a tight cluster of three far away: ruled out (one more seed lands at 97.1 ± 0.5
    points); seeds spread wider than the band (maybe two-valued), or fewer than three: undecided."""
    assert landing([0.70, 0.10, 0.10], 0.694).verdict == CONSISTENT
    assert landing([0.970, 0.971, 0.972], 0.694).verdict == RULED_OUT
    assert landing([0.10, 0.90], 0.694).verdict == UNDECIDED
    assert landing([0.10, 0.12, 0.21], 0.694).verdict == UNDECIDED  # 11 points apart: wider than the band's 5
    assert landing([0.10, 0.12, 0.21], 0.694, width=0.06).verdict == RULED_OUT  # a band of 12 points holds them
    assert landing([0.10], 0.694).verdict == UNDECIDED
    assert landing([0.08, 0.08], 0.694).verdict == UNDECIDED  # two seeds alike say nothing of a third
    e = landing([0.694 + 0.025, 0.10], 0.694)  # on the band's edge counts
    assert e.estimate == 0.5 and e.of == "1 of 2 seeds within ±2.5 points of 69.40%"


def test_seeds_to_see_by_hand():
    "A share of 10%: 0.9^28 = 0.052 is still above 5%, 0.9^29 = 0.047 below, so 29 seeds; 25%: 11."
    assert seeds_to_see(0.10) == 29 and seeds_to_see(0.25) == 11


def test_every_verdict_is_in_the_vocabulary():
    verdicts = {paired([3, 4, 5], [1, 1, 1]).verdict, welch([1, 2, 3], [4, 5, 6]).verdict,
                paired([1, 2], [1.5, 1.4]).verdict, landing([0.7], 0.694).verdict,
                landing([0.97, 0.971, 0.972], 0.694).verdict, seed_mean([1]).verdict}
    assert verdicts == set(VERDICTS)


def test_evidence_prints_levels_in_percent_and_differences_in_points():
    assert str(Evidence(0.995, 0.9934, 0.9962, 10_000, "10,000 test images")) == \
        "99.50% [99.34%, 99.62%], 10,000 test images"
    assert str(compare_shares(1, 10, 0, 10)) == \
        "+10.00 points, 1 of 10 against 0 of 10 seeds, p = 1: not detectable"


def test_evidence_needs_only_numpy_and_scipy():
    "ARCHITECTURE.md: the statistics know nothing of training, sweeps or results, so any lesson may use them."
    import ast
    import mnist_course.evidence as ev
    tree = ast.parse(open(ev.__file__).read())
    found = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    found |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert found <= {"math", "dataclasses", "numpy", "scipy"}, found


def test_seed_mean_interval_stays_within_accuracy_range():
    "A collapsed seed widens the t-interval past 100% and below 0%; an accuracy's interval stays in [0, 1]."
    collapsed = seed_mean([0.9817, 0.9871, 0.1135, 0.9687, 0.9886])  # fastest_cpu's batch-256 row, one seed collapsed
    assert collapsed.high == 1.0 and 0 < collapsed.low < collapsed.estimate
    near_zero = seed_mean([0.0, 0.0, 0.1])
    assert near_zero.low == 0.0 and near_zero.high < 1.0
    usual = seed_mean([0.9928, 0.9927, 0.9933])
    assert 0 < usual.low < usual.estimate < usual.high < 1
