"""The course website (issue 8): built once per session as `make docs` builds it, then every page opened
in headless Chromium.

Needs Debian's `chromium` and the docs dependencies (docs/requirements.txt, installed by `make docs`).
Without them these tests skip on a workstation and fail in CI (CI=true), where .ci/run installs both.
Screenshots of the front page and of one lesson are kept in artifacts/site/ (git-ignored).
"""
import ast
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / "nbs"
ARTIFACTS = ROOT / "artifacts" / "site"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(ok, why: str):
    "Skip without `ok` on a workstation; in CI a missing tool is a failure."
    if ok: return
    if IN_CI: pytest.fail(f"{why} (CI=true: .ci/run must install it)")
    pytest.skip(why)


def lessons() -> list[Path]:
    "The lessons, in the sidebar's order (index.ipynb would be the README's source, i.e. the front page)."
    return sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")) and p.stem != "index")


def code_cells(nb: Path) -> list[tuple[set, str]]:
    "(directives, code without directive lines) of each code cell of `nb`."
    res = []
    for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code": continue
        lines = "".join(cell["source"]).splitlines()
        dirs = {m[1] for l in lines if (m := re.match(r"\s*#\|\s*([\w-]+)", l))}
        res.append((dirs, "\n".join(l for l in lines if not re.match(r"\s*#\|", l)).strip()))
    return res


def exported_names(nb: Path) -> dict[str, list[str]]:
    "Public functions and classes that `nb` exports, by module (`#| export MOD` names one other than the default)."
    text = nb.read_text(encoding="utf-8")
    default = m[1] if (m := re.search(r"#\|\s*default_exp\s+([\w.]+)", text)) else None
    res = {}
    for cell in json.loads(text)["cells"]:
        src = "".join(cell["source"])
        m = cell["cell_type"] == "code" and re.search(r"^\s*#\|\s*export\b[ \t]*([\w.]*)", src, re.M)
        if not m: continue
        tree = ast.parse("\n".join(l for l in src.splitlines() if not re.match(r"\s*#\|", l)))
        res.setdefault(m[1] or default, []).extend(
            o.name for o in tree.body if isinstance(o, (ast.FunctionDef, ast.ClassDef)) and not o.name.startswith("_"))
    return res


def nb_title(nb: Path) -> str:
    "The lesson's H1 as plain text."
    for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
        m = cell["cell_type"] == "markdown" and re.search(r"^#\s+(.+?)\s*$", "".join(cell["source"]), re.M)
        if m: return re.sub(r"[`*]", "", m[1])
    raise AssertionError(f"{nb}: no '# Title' cell")


def fingerprint(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.ipynb"))}


@pytest.fixture(scope="session")
def chromium() -> str:
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    require(exe, "Chromium is not installed (Debian: apt-get install chromium)")
    return exe


def site_inputs() -> list[Path]:
    "Every file of the repository the site could be made from (tracked or new, not ignored), tests/ aside."
    r = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                       capture_output=True, text=True)
    return [ROOT / f for f in r.stdout.split("\0") if f and not f.startswith("tests/")] if r.returncode == 0 else []


def made_by_make_docs() -> tuple[Path, Path, str] | None:
    """The site `make docs` built (_docs/, _proc/ and its log _proc/build.log, whose first line is the time the build
    started), if no input has changed since that build began: else None. A notebook the build itself wrote would be
    newer than that line, so such a build is never reused (the build here then catches it)."""
    html, proc, log = ROOT / "_docs", ROOT / "_proc", ROOT / "_proc" / "build.log"
    if not ((html / "index.html").is_file() and (proc / "book").is_dir() and log.is_file()): return None
    text = log.read_text()
    if not (m := re.match(r"docs/build.py started at (\d+\.\d+)\n", text)): return None
    inputs = site_inputs()
    if not inputs or any(not f.exists() or f.stat().st_mtime >= float(m[1]) for f in inputs): return None
    return html, proc, text


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """The site, as `make docs` builds it: (site folder, processed notebooks, build log). CI runs `make docs` before
    the tests, so its build is reused when up to date (about 35 s saved); else docs/build.py builds one here."""
    require(all(importlib.util.find_spec(m) for m in ("sphinx", "myst_nb", "sphinx_book_theme")),
            "the docs dependencies are not installed (run `make docs` once)")
    if made := made_by_make_docs(): return made
    tmp = tmp_path_factory.mktemp("site")
    before = fingerprint(NBS)
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(tmp / "html"),
                        "--proc", str(tmp / "proc")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"docs/build.py failed:\n{r.stdout}\n{r.stderr}"
    assert fingerprint(NBS) == before, "building the site changed a notebook: it must only read them"
    return tmp / "html", tmp / "proc", r.stderr


@pytest.fixture(scope="session")
def site(build) -> Path: return build[0]


class Page(HTMLParser):
    "What the tests look at in a page's DOM: title, images, sidebar links, code blocks, prose, lesson links."
    def __init__(self, dom: str):
        super().__init__()
        self.title, self.imgs, self.sidebar, self.pre, self.prose, self.links = "", [], [], [], [], {}
        self.collapsed = []  # for each code block: whether it sits in a closed <details> (a collapsed cell)
        self._details = []   # the <details> elements around the parser's position: open or not
        self.cards = []  # names in API cards' signatures
        self._in = {"title": 0, "nav": 0, "pre": 0, "code": 0, "script": 0, "style": 0}
        self._link, self._card = None, 0
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and (self._card or "sig-name" in a.get("class", "")):
            if not self._card: self.cards.append("")
            self._card += 1
        if tag == "nav": self._in["nav"] += 1 if "bd-docs-nav" in a.get("class", "") or self._in["nav"] else 0
        elif tag in self._in: self._in[tag] += 1
        if tag == "details": self._details.append("open" in a)
        if tag == "pre": self.pre.append(""); self.collapsed.append(bool(self._details) and not any(self._details))
        if tag == "img": self.imgs.append(a.get("src", ""))
        if tag == "a":
            if self._in["nav"]: self.sidebar.append(a.get("href", ""))
            if "lesson-link" in a.get("class", ""): self._link = [a.get("href", ""), ""]

    def handle_endtag(self, tag):
        if tag == "span" and self._card: self._card -= 1
        if tag == "details" and self._details: self._details.pop()
        if tag in self._in and self._in[tag]: self._in[tag] -= 1
        if tag == "a" and self._link: self.links[self._link[1].strip()], self._link = self._link[0], None

    def handle_data(self, data):
        if self._card: self.cards[-1] += data
        if self._in["title"]: self.title += data
        if self._link: self._link[1] += data
        if self._in["pre"]: self.pre[-1] += data
        elif not (self._in["code"] or self._in["script"] or self._in["style"]): self.prose.append(data)


def browse(chromium: str, url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    "Run headless Chromium on `url` with a fresh profile."
    profile.mkdir(parents=True)
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args, url],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def pages(chromium, site, tmp_path_factory) -> dict:
    "Every HTML page of the site, as Chromium rendered it (the DOM after scripts ran): path -> Page."
    profiles, res = tmp_path_factory.mktemp("profiles"), {}
    for i, path in enumerate(sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)):
        r = browse(chromium, path.as_uri(), profiles / str(i), "--dump-dom")
        assert r.returncode == 0 and "<body" in r.stdout, f"{path} did not load in Chromium:\n{r.stderr[-2000:]}"
        res[path] = Page(r.stdout)
    return res


def test_build_has_no_warnings(build):
    warnings = [l for l in build[2].splitlines() if "WARNING" in l or "ERROR" in l]
    assert not warnings, "the site builds with warnings:\n" + "\n".join(warnings)


def test_every_lesson_front_page_and_api_page_is_built(site):
    assert (site / "index.html").is_file()
    for nb in lessons():
        assert (site / "nbs" / f"{nb.stem}.html").is_file(), f"no page for {nb}"
        for mod in re.findall(r"#\|\s*default_exp\s+([\w.]+)", nb.read_text(encoding="utf-8")):
            assert (site / "api" / f"{mod}.html").is_file(), f"no API page for {mod} ({nb.name})"


def test_pages_have_their_titles(pages, site):
    expected = {site / "index.html": re.search(r"^#\s+(.+)$", (ROOT / "README.md").read_text(), re.M)[1],
                **{site / "nbs" / f"{nb.stem}.html": nb_title(nb) for nb in lessons()},
                **{p: f"mnist_course.{p.stem}" for p in (site / "api").glob("*.html")}}
    for path, page in pages.items():
        assert page.title.strip(), f"{path}: no <title>"
        if path in expected: assert page.title.startswith(expected[path]), f"{path}: title {page.title!r}"


def test_sidebar_lists_every_lesson_in_order(pages, site):
    want = [site / "nbs" / f"{nb.stem}.html" for nb in lessons()]
    for path, page in pages.items():
        if path.relative_to(site).parts[0] == "draw": continue  # the Draw a digit page stands alone (lesson 22)
        hrefs = [(path.parent / unquote(urlsplit(h).path)).resolve() for h in page.sidebar if not urlsplit(h).scheme]
        got = [h for h in hrefs if h in want]
        if path in want: got.insert(want.index(path), path)  # the current page may link to itself as "#"
        assert list(dict.fromkeys(got)) == want, f"{path}: sidebar lessons {[p.name for p in got]}"


def test_no_broken_images(pages, site, build):
    from PIL import Image
    n = 0
    for path, page in pages.items():
        for src in page.imgs:
            u = urlsplit(src)
            if u.scheme == "data": continue
            assert not u.scheme, f"{path}: image {src} is not part of the site (the site must work offline)"
            img = (path.parent / unquote(u.path)).resolve()
            assert img.is_file(), f"{path}: broken image {src}"
            if img.suffix.lower() != ".svg":
                with Image.open(img) as im: im.verify()
            n += 1
    shown = [c for nb in (build[1] / "book" / "nbs").glob("*.ipynb")  # cells left after nbdev's processing
             for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
             if not {"remove-cell", "remove-output"} & set(c["metadata"].get("tags", []))]
    figures = sum(any(m.startswith("image/") for m in o.get("data", {})) for c in shown for o in c.get("outputs", []))
    assert n >= figures, f"{figures} figures in the lessons' outputs, {n} images on the site"


def test_no_raw_nbdev_directives(pages):
    for path, page in pages.items():
        for block in page.pre:
            bad = [l for l in block.splitlines() if re.match(r"\s*#\|", l)]
            assert not bad, f"{path}: directive lines in a code block: {bad}"
        prose = [t.strip() for t in page.prose if "#|" in t]
        assert not prose, f"{path}: raw directive text: {prose}"


def test_markdown_tables_render_as_tables(pages):
    "A lesson's table output (IPython Markdown) is an HTML table on the site, not a paragraph of pipes."
    for path, page in pages.items():
        raw = [t.strip()[:80] for t in page.prose if re.search(r"\|\s*-{3,}\s*\|", t)]
        assert not raw, f"{path}: markdown tables shown as text: {raw}"


def test_hidden_cells_are_not_shown(pages, site):
    for nb in lessons():
        blocks = pages[site / "nbs" / f"{nb.stem}.html"].pre
        for dirs, code in code_cells(nb):
            if "hide" in dirs and code: assert not any(code in b for b in blocks), f"{nb.name}: hidden cell shown:\n{code}"


def test_solutions_are_collapsed_with_their_code_on_the_page(pages, site):
    "Each exercise's solution cell is on its lesson's page, its code in a closed <details>: 'Show the solution to ...'."
    n = 0
    for nb in lessons():
        page = pages[site / "nbs" / f"{nb.stem}.html"]
        solutions = {m[1]: code for _, code in code_cells(nb) if (m := re.match(r"# Solution to exercise (\d+)", code))}
        for number, code in solutions.items():
            where = [shut for block, shut in zip(page.pre, page.collapsed) if code in block]
            assert where, f"{nb.name}: solution {number} is missing from the page"
            assert all(where), f"{nb.name}: solution {number} is shown open"
        toggles = re.findall(r"Show the solution to exercise (\d+)", " ".join(page.prose))
        assert toggles == list(solutions), f"{nb.name}: solutions {list(solutions)}, toggles {toggles}"
        n += len(solutions)
    assert n, "no lesson has a solution cell"


def test_exported_functions_have_api_cards(pages, site):
    for nb in lessons():
        by_module = exported_names(nb)
        names = {n for ns in by_module.values() for n in ns}
        page = pages[site / "nbs" / f"{nb.stem}.html"]
        assert not names - set(page.cards), f"{nb.name}: no API card for {names - set(page.cards)}"
        for mod, ns in by_module.items():
            api = set(pages[site / "api" / f"{mod}.html"].cards)
            assert not set(ns) - api, f"api/{mod}.html lacks {set(ns) - api}"


def test_lessons_link_to_colab_and_their_notebook(pages, site):
    import configparser
    ini = configparser.ConfigParser(delimiters=["="])
    ini.read(ROOT / "settings.ini")
    cfg = ini["DEFAULT"]
    for nb in lessons():
        path = site / "nbs" / f"{nb.stem}.html"
        links = pages[path].links
        assert links.get("Open in Colab") == (f"https://colab.research.google.com/github/{cfg['user']}/{cfg['repo']}"
                                              f"/blob/{cfg['branch']}/nbs/{nb.name}"), f"{path}: {links}"
        download = path.parent / links["Download the notebook"]
        assert download.read_bytes() == nb.read_bytes(), f"{path}: the download is not {nb}"
        assert links["View on GitHub"].startswith(cfg["git_url"]), links


def test_screenshots(chromium, pages, site, tmp_path):
    "The front page, and the lesson with the most figures down to its figures, as Chromium draws them."
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    lesson = max((site / "nbs" / f"{nb.stem}.html" for nb in lessons()), key=lambda p: len(pages[p].imgs))
    # headless Chromium draws a blank page when it scrolls to an anchor, so the lesson is one tall screenshot
    shots = {"index.png": (site / "index.html", 1600), f"lesson-{lesson.stem}.png": (lesson, 12000)}
    for i, (name, (page, height)) in enumerate(shots.items()):
        r = browse(chromium, page.as_uri(), tmp_path / str(i), "--hide-scrollbars", f"--window-size=1280,{height}",
                   f"--screenshot={ARTIFACTS / name}")
        assert r.returncode == 0 and (ARTIFACTS / name).stat().st_size > 50_000, f"no screenshot of {page}:\n{r.stderr}"


def test_lessons_have_one_number_each_and_the_appendix_comes_last():
    "Each numbered lesson has a number of its own, in a row from 00; an appendix (no number) follows them."
    numbers = [nb.stem.split("_")[0] for nb in lessons()]
    numbered = [n for n in numbers if n.isdigit()]
    assert numbered == [f"{i:02d}" for i in range(len(numbered))], numbers
    assert numbers[len(numbered):] == [n for n in numbers if not n.isdigit()], "an appendix sits between lessons"


def test_leaderboard_page_shows_every_row_and_its_rule(pages, site):
    page = site / "results" / "LEADERBOARD.html"
    assert page in pages, "no leaderboard page"
    md_rows = [l for l in (ROOT / "results/LEADERBOARD.md").read_text().splitlines() if l.startswith("| ")]
    html = page.read_text(encoding="utf-8")
    assert html.count("<tr") == len(md_rows), "the page's table is not the leaderboard's"
    prose = " ".join(" ".join(pages[page].prose).split())
    assert "Ranked by test accuracy" in prose and "No row was chosen on the test set" in prose
    for other in (site / "index.html", site / "nbs" / f"{lessons()[0].stem}.html"):
        assert any(h.endswith("LEADERBOARD.html") for h in pages[other].sidebar), f"{other}: no leaderboard in the sidebar"


@pytest.mark.parametrize("page", ["results/LEADERBOARD.html", "nbs/21_results.html", "nbs/19_beyond.html"])
def test_wide_outputs_scroll_inside_their_cell(chromium, site, tmp_path, page):
    "At a laptop's width, no table or output widens the page: each scrolls inside its own box."
    src = site / page
    probe = src.with_name(f"_probe-{src.name}")  # beside the page, so its relative links still resolve
    script = ("<script>window.addEventListener('load', () => document.documentElement.dataset.wide ="
              " document.documentElement.scrollWidth > document.documentElement.clientWidth + 1);</script>")
    probe.write_text(src.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    try:
        r = browse(chromium, probe.as_uri(), tmp_path / "profile", "--window-size=1280,900", "--dump-dom",
                   "--virtual-time-budget=5000")
    finally:
        probe.unlink()
    assert r.returncode == 0 and 'data-wide="false"' in r.stdout, f"{page} is wider than the window (or did not load)"
