"The command line answers usage errors and --help in an instant, without importing torch; its help comes from TrainConfig."
import dataclasses
import subprocess
import sys

import pytest

from mnist_course import cli
from mnist_course.config import TrainConfig

ASK = """\
import sys
from mnist_course import cli
try: cli.main(sys.argv[1:])
except SystemExit as e: print("exit", e.code, "torch imported:", "torch" in sys.modules)
"""


@pytest.mark.parametrize("argv", [["sweep", "nosuch"], ["sweep", "--help"], ["sweep", "ablation", "--parallel", "0"],
                                  ["train", "--model", "baseline", "--out", "x", "--lr", "-1"],
                                  ["train", "--model", "baseline", "--out", "FILE"]], ids=" ".join)
def test_usage_errors_and_help_do_not_import_torch(argv, tmp_path):
    (tmp_path / "FILE").write_text("a file, not a run folder")
    r = subprocess.run([sys.executable, "-c", ASK, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    code = "0" if "--help" in argv else "2"
    assert r.stdout.split()[-5:] == ["exit", code, "torch", "imported:", "False"], r.stdout + r.stderr


def test_train_help_says_what_each_field_means_from_its_metadata(capsys):
    with pytest.raises(SystemExit): cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model": continue
        assert f.metadata["help"] and " ".join(f.metadata["help"].split()) in text, f.name
