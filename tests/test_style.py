"The package and the benchmarks read as the style guide asks: lines of at most 120 characters, one statement a line."
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SOURCES = sorted(p for p in [*ROOT.glob("mnist_course/*.py"), *ROOT.glob("benchmarks/*.py")] if p.name != "_modidx.py")

def long_lines(path: Path, limit: int = 120) -> list[int]:
    "Lines longer than `limit`, less nbdev's own `__all__` block (it wraps it at 120 after the `__all__ = ` prefix)."
    lines, generated = path.read_text().splitlines(), set()
    if start := next((i for i, line in enumerate(lines) if line.startswith("__all__ = [")), None):
        end = next(i for i in range(start, len(lines)) if lines[i].rstrip().endswith("]"))
        generated = set(range(start + 1, end + 2))
    return [i for i, line in enumerate(lines, 1) if len(line) > limit and i not in generated]

def semicolons(path: Path) -> list[int]:
    "Lines where `;` joins statements (a `;` token, not one inside a string or comment)."
    toks = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return sorted({t.start[0] for t in toks if t.type == tokenize.OP and t.string == ";"})

@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lines_of_at_most_120_characters(path):
    assert not long_lines(path), f"{path.name}: lines {long_lines(path)} are longer than 120 characters"

@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_one_statement_a_line(path):
    assert not semicolons(path), f"{path.name}: lines {semicolons(path)} join statements with ';'"

def test_the_checks_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1; y = 2\ns = 'a; b'  # c; d\n" + "z = 0" + " " * 120 + "\n__all__ = ['" + "a" * 120 + "']\n")
    assert semicolons(bad) == [1] and long_lines(bad) == [3]
