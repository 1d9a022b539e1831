"Several runs at once: each with its own settings during its own steps, and the caller's state as it was after."
import torch

from mnist_course import step
from mnist_course.config import make_config
from mnist_course.sweep import fit_many

TINY = dict(epochs=1, samples_per_epoch=200, train_subset=1_000, eval_subset=100, bs=50)  # 4 steps a run


def test_each_run_steps_with_its_own_cudnn_autotuning_and_the_flag_is_restored(mnist, monkeypatch):
    seen, real = {}, step.TrainStep.__call__
    def recording(self, xb, yb):  # the global flag as each step of each run finds it
        seen.setdefault(id(self), []).append(torch.backends.cudnn.benchmark)
        return real(self, xb, yb)
    monkeypatch.setattr(step.TrainStep, "__call__", recording)
    before = torch.backends.cudnn.benchmark
    fit_many([dict(cfg=make_config("baseline", **TINY, cudnn_benchmark=on), data=mnist) for on in (True, False)])
    assert list(seen.values()) == [[True] * 4, [False] * 4]  # run one's steps first: it takes the first turn
    assert torch.backends.cudnn.benchmark == before
