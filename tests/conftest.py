"Shared fixtures: the official MNIST files, from $MNIST_COURSE_DATA (CI: ../shared/data/mnist) or a download."
import os
from pathlib import Path

import pytest

from mnist_course.data import MNIST_SHA256, load_mnist, prepare_mnist


@pytest.fixture(scope="session")
def source() -> Path:
    "A folder holding the four official files, as the course is pointed at them."
    env = os.environ.get("MNIST_COURSE_DATA")
    if env: return Path(env)
    return prepare_mnist()  # a user with internet: torchvision downloads, then the files are verified


@pytest.fixture(scope="session")
def official(source) -> dict:
    "name -> uncompressed content of each official file."
    folder = prepare_mnist(source)
    return {name: (folder / name).read_bytes() for name in MNIST_SHA256}


@pytest.fixture(scope="session")
def mnist(source, tmp_path_factory):
    "MNIST as tensors, prepared into a fresh root."
    return load_mnist(source, tmp_path_factory.mktemp("root"))


@pytest.fixture
def copy_of(official, tmp_path):
    "A function writing the official files (plain) to a new folder, with `changes` name -> bytes (None deletes)."
    def make(changes=None, folder="src"):
        d = tmp_path / folder
        d.mkdir()
        for name, raw in {**official, **(changes or {})}.items():
            if raw is not None: (d / name).write_bytes(raw)
        return d
    return make


TINY = dict(epochs=2, samples_per_epoch=400, train_subset=1_000, eval_subset=200, bs=50)  # a run in seconds


@pytest.fixture(scope="session")
def tiny_run(mnist, tmp_path_factory):
    """A baseline trained once for the whole session with the TINY recipe: (folder, metrics), for every test that only
    reads a trained run. Nothing may write into it: a test that changes a run copies it first."""
    from mnist_course.config import make_config
    from mnist_course.train import fit
    out = tmp_path_factory.mktemp("tiny_run") / "baseline"
    return out, fit(make_config("baseline", **TINY), mnist, out=out)
