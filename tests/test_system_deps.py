"""`.ci/system-deps` installs chromium, npm and fonts-dejavu-core each only when missing.

Run with stub `apt-get`, `sudo`, `id`, `dpkg-query`, `chromium` and `npm` programs alone on PATH: no root, no network.
The stubs log each apt-get and sudo call, so the tests read which packages were asked for and how many updates ran.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "system-deps"
BASH = shutil.which("bash")


def stub(folder: Path, name: str, body: str):
    (folder / name).write_text(f"#!{BASH}\n{body}\n")
    (folder / name).chmod(0o755)


def system_deps(tmp_path, have=("chromium", "npm", "fonts"), uid=1000, update_rc=0, install_rc=0):
    "Run the script on a machine that has the programs in `have`; returns (process, apt-get calls, sudo calls)."
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "apt.log"
    for program in {"chromium", "npm"} & set(have): stub(bin_, program, "exit 0")
    stub(bin_, "dpkg-query", f"printf %s {'installed' if 'fonts' in have else 'not-installed'}")
    stub(bin_, "id", f'[ "$1" = -u ] && echo {uid}')
    stub(bin_, "sudo", f'echo "$*" >> {tmp_path}/sudo.log; exec "$@"')
    stub(bin_, "apt-get", f'echo "$*" >> {log}\ncase "$1" in update) exit {update_rc};; install) exit {install_rc};; esac')
    (bin_ / "env").symlink_to(shutil.which("env"))
    r = subprocess.run([BASH, SCRIPT], capture_output=True, text=True, env={"PATH": str(bin_)}, timeout=30)
    read = lambda p: p.read_text().splitlines() if p.exists() else []
    return r, read(log), read(tmp_path / "sudo.log")


def installed(calls: list[str]) -> list[list[str]]:
    "The packages each `apt-get install` call asked for (its arguments after the options)."
    return [[a for a in c.split()[1:] if not a.startswith("-")] for c in calls if c.startswith("install")]


def test_nothing_missing_installs_nothing(tmp_path):
    r, apt, sudo = system_deps(tmp_path)
    assert r.returncode == 0, r.stderr
    assert apt == [] and sudo == []
    assert "already installed" in r.stdout


def test_only_chromium_missing_installs_chromium_alone_with_sudo(tmp_path):
    "This image: Node.js from nodesource with its own npm, the fonts, no Chromium; not root, so through sudo."
    r, apt, sudo = system_deps(tmp_path, have=("npm", "fonts"))
    assert r.returncode == 0, r.stderr
    assert apt.count("update -qq") == 1
    assert installed(apt) == [["chromium"]]
    assert len(sudo) == 2 and all("apt-get" in c for c in sudo)


def test_chromium_and_npm_missing_installs_both_in_one_call_as_root(tmp_path):
    r, apt, sudo = system_deps(tmp_path, have=("fonts",), uid=0)
    assert r.returncode == 0, r.stderr
    assert apt.count("update -qq") == 1 and len(apt) == 2
    assert installed(apt) == [["chromium", "npm"]]
    assert sudo == []  # root needs no sudo


@pytest.mark.parametrize("stage", ["update", "install"])
def test_a_failing_apt_get_says_so_in_one_line_and_exits_1(tmp_path, stage):
    r, apt, _ = system_deps(tmp_path, have=("npm",), update_rc=100 * (stage == "update"),
                            install_rc=100 * (stage == "install"))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and f"apt-get {stage}" in r.stderr and "chromium fonts-dejavu-core" in r.stderr
    assert apt.count("update -qq") == 1
    assert installed(apt) == ([] if stage == "update" else [["chromium", "fonts-dejavu-core"]])
