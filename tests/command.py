"`mnist-course` run as a user types it: the console script installed beside this Python, output captured."
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "mnist-course"


def mnist_course(*args, **kw) -> subprocess.CompletedProcess:
    "Run `mnist-course ARGS...` (each argument str()-ed); returns the finished process with its text output."
    return subprocess.run([SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)
