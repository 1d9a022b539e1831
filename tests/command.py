"""`mnist-course` as a user types it, output captured.

`mnist_course(ARGS...)` runs `cli.main` in this process, as the console script would (exit status, stdout, stderr;
an uncaught error becomes its traceback and status 1): no second start of Python and torch (7 s a call on two cores).
`SCRIPT` is the installed program itself, for what needs a process of its own: the console-script smoke test
(tests/test_cli.py), torchrun, and a run killed mid-epoch.
"""
import contextlib
import io
import os
import subprocess
import sys
import traceback
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "mnist-course"


def mnist_course(*args, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    "Run `mnist-course ARGS...` (each argument str()-ed) in this process; returns its status and text output."
    from mnist_course import cli
    argv, out, err = list(map(str, args)), io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or os.getcwd()), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: code = cli.main(argv)
        except SystemExit as e:  # as the interpreter ends: None is status 0, a message is printed with status 1
            code = 0 if e.code is None else e.code if isinstance(e.code, int) else 1
            if isinstance(e.code, str): print(e.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess([SCRIPT, *argv], code, out.getvalue(), err.getvalue())


def console_script(*args, **kw) -> subprocess.CompletedProcess:
    "Start the installed `mnist-course ARGS...` as a user's shell would; returns the finished process."
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)
