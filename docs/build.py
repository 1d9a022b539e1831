"""Build the course website: nbdev's processing of `nbs/*.ipynb` into `_proc/`, then Sphinx (MyST-NB,
sphinx-book-theme) into `_docs/`.

    python docs/build.py [--out _docs] [--proc _proc]      (what `make docs` runs)

The notebooks are read, never written, and no cell is executed: the pages show the outputs saved in
the notebooks. `README.md` becomes the front page; every `nbs/*.ipynb`, in name order, a lesson (an appendix
after the numbered lessons); each lesson's module an API page; the leaderboard and the report card (both written
afresh from `results/` by lesson 21) and the open questions pages of their own; `docs/draw/` the Draw a digit page
at `draw/` (lesson 22), a page of the book with its scripts and networks beside it. Both output folders are rebuilt
from scratch on every run.
"""
import argparse, ast, importlib, inspect, itertools, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

from execnb.nbio import mk_cell, read_nb, write_nb
from nbdev.config import get_config
from nbdev.process import NBProcessor, Processor
from nbdev.processors import (add_show_docs, ai_magics, clean_magics, filter_stream_, hide_, hide_line,
                              populate_language, rm_header_dash, strip_ansi, strip_hidden_metadata)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


# ---- lessons: nbdev's processors, then MyST-NB's cell tags ----------------------------------------
def default_exp(nb) -> str | None:
    "The module a notebook exports to (`#| default_exp`), read from the directives NBProcessor parsed."
    return next((c.directives_["default_exp"][0] for c in nb.cells if "default_exp" in getattr(c, "directives_", {})), None)


class autodoc_cards(Processor):
    "Turn the `show_doc(name)` cells that `add_show_docs` inserted (or the author wrote) into autodoc API cards."
    def begin(self):
        self.mod = default_exp(self.nb)
        cells, i = self.nb.cells, 0
        while i < len(cells):  # add_show_docs inserts a cell's cards last name first: put them in source order
            j = next((k for k in range(i, len(cells)) if not cells[k].get("has_sd")), len(cells))
            cells[i:j], i = cells[i:j][::-1], max(j, i + 1)
        self.card_mod, mod = {}, self.mod  # a card's name lives where the cell above it exports (`#| export MOD`)
        for c in cells:
            if c.get("has_sd"): self.card_mod[id(c)] = mod
            else: mod = next(iter(getattr(c, "directives_", {}).get("export") or []), self.mod)

    def cell(self, cell):
        if cell.cell_type != "code" or not re.match(r"\s*show_doc\(", cell.source): return
        call = ast.parse(cell.source.strip()).body[0].value
        mod = self.card_mod.get(id(cell), self.mod)
        target = api_target(mod, ast.unparse(call.args[0]))
        if target is None:
            warn(f"{self.nb.path_}: cell {cell.idx_}: `{cell.source.strip()}` names nothing in module {mod!r}; card left out")
            cell.source = None
            return
        cell.update(cell_type="markdown", source=autodoc(*target, "no-index"), metadata={})
        for k in ("outputs", "execution_count", "has_sd"): cell.pop(k, None)


def api_target(mod: str | None, name: str):
    "(autodoc directive, dotted path) of `name` in `mnist_course.<mod>`, or None when it isn't there."
    if not mod: return None
    lib = get_config().lib_name
    try: obj = importlib.import_module(f"{lib}.{mod}")
    except ImportError as e: raise SystemExit(f"{lib}.{mod} does not import ({e}): run `nbdev_export`, then build again")
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None: return None
    kind = "autoclass" if inspect.isclass(obj) else "automethod" if "." in name else "autofunction"
    return kind, f"{lib}.{mod}.{name}"


def autodoc(directive: str, target: str, option: str) -> str:
    "An autodoc directive in MyST: autodoc writes reStructuredText, so it goes in an eval-rst block."
    return f"```{{eval-rst}}\n.. {directive}:: {target}\n   :{option}:\n```"


_QUARTO_TAGS = {("include", "false"): "remove-cell", ("echo", "false"): "remove-input", ("output", "false"): "remove-output"}

def myst_tags(cell):
    "Quarto `#| key: value` options that nbdev leaves in code cells become MyST-NB tags; no `#|` line is left."
    if cell.cell_type != "code" or cell.source is None: return
    lines = cell.source.splitlines()
    opts = [re.match(r"\s*#\|\s*([\w-]+)\s*:\s*(.*?)\s*$", l) for l in lines]
    tags = [_QUARTO_TAGS[k] for m in opts if m and (k := (m[1], m[2].lower())) in _QUARTO_TAGS]
    if tags: cell.metadata.setdefault("tags", []).extend(tags)
    cell.source = "\n".join(l for l in lines if not re.match(r"\s*#\|", l)).strip()
    if not cell.source and not cell.get("outputs"): cell.source = None  # a cell that only held directives


SOLUTION = re.compile(r"# Solution to exercise (\d+)")

def collapse_solutions(cell):
    """An exercise's solution (a code cell whose first line is `# Solution to exercise N`) is shown collapsed, its
    code and outputs behind one toggle, "Show the solution to exercise N" (MyST-NB's `hide-cell`). The notebooks
    carry no cell metadata (nbdev_clean strips it), so the tag is given here, by the cell's first line."""
    m = cell.cell_type == "code" and cell.source and SOLUTION.match(cell.source)
    if not m: return
    cell.metadata.setdefault("tags", []).append("hide-cell")
    cell.metadata["mystnb"] = {f"code_prompt_{do}": f"{do.title()} the solution to exercise {m[1]}"
                               for do in ("show", "hide")}


PROCS = [populate_language, add_show_docs, strip_ansi, hide_line, filter_stream_, rm_header_dash, hide_,
         ai_magics, clean_magics, strip_hidden_metadata, autodoc_cards, myst_tags, collapse_solutions]
# Left out of nbdev's defaults, being Quarto's or executing cells: FrontmatterProc (it would drop the
# title cell's prose), insert_warning, clean_show_doc, exec_show_docs (autodoc reads the package instead),
# rm_export (a course shows the code it exports), add_links (Quarto URLs), add_fold, mv_exports.


def title_of(nb) -> str:
    "The lesson's H1, as nbdev reads it."
    for c in nb.cells:
        m = c.cell_type == "markdown" and re.search(r"^#\s+(.+?)\s*$", c.source, re.M)
        if m: return m[1]
    raise SystemExit(f"{nb.path_}: no '# Title' markdown cell; nbdev needs one")


def lesson_links(name: str, cfg) -> str:
    "The banner under a lesson's title: Colab, download (the original notebook, shipped with the site), GitHub."
    path = f"{cfg.nbs_path.name}/{name}"
    colab = f"https://colab.research.google.com/github/{cfg.user}/{cfg.repo}/blob/{cfg.branch}/{path}"
    links = [(colab, "Open in Colab", ""), (name, "Download the notebook", " download"),
             (f"{cfg.git_url}/blob/{cfg.branch}/{path}", "View on GitHub", "")]
    return '<p class="lesson-links">\n' + "\n".join(
        f'<a class="lesson-link" href="{href}"{x}>{text}</a>' for href, text, x in links) + "\n</p>"


def process_lesson(src: Path, dest: Path, cfg) -> tuple[str, str | None]:
    "Write the processed copy of lesson `src` to `dest`; returns its title and the module it exports to."
    nb = read_nb(src)
    processor = NBProcessor(nb=nb, procs=PROCS)
    mod = default_exp(nb)  # before the processors drop the cell that says it
    processor.process()
    title = title_of(nb)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and title in c.source)
    nb.cells.insert(first + 1, mk_cell(lesson_links(src.name, cfg), "markdown"))
    nb.metadata.update(kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
                       language_info={"name": "python", "pygments_lexer": "ipython3"},
                       # each cell's first line, counting all cells' lines: without it MyST-NB numbers the lines of
                       # cell i from (i+1)*10000, and pads every eval-rst block (an API card) with that many lines
                       source_map=list(itertools.accumulate((c.source.count("\n") + 1 for c in nb.cells[:-1]), initial=0)))
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_nb(nb, dest)
    return title, mod


# ---- front page and API pages ---------------------------------------------------------------------
def front_page(book: Path, cfg, toc: str) -> None:
    "README.md as the index: its relative links go to the lessons, to copied images, or to GitHub."
    def link(m):
        target = m[2].split("#")[0]
        if re.match(r"[a-z]+:|#|/", m[2]) or not (ROOT / target).exists(): return m[0]
        if (book / target).exists(): return m[0]                      # a page of the site
        if re.search(r"\.(png|jpe?g|gif|svg)$", target, re.I):       # an image: ship it
            (book / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / target, book / target)
            return m[0]
        return f"{m[1]}({cfg.git_url}/blob/{cfg.branch}/{m[2]})"
    readme = re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", link, (ROOT / "README.md").read_text(encoding="utf-8"))
    (book / "index.md").write_text(readme.rstrip() + "\n\n" + toc, encoding="utf-8")


def api_page(book: Path, mod: str, lesson: str, title: str, cfg) -> None:
    lib = cfg.lib_name
    (book / "api").mkdir(exist_ok=True)
    (book / "api" / f"{mod}.md").write_text(
        f"# {lib}.{mod}\n\nWhat lesson [{title}](../{cfg.nbs_path.name}/{lesson}) exports; "
        f"[source]({cfg.git_url}/blob/{cfg.branch}/{lib}/{mod}.py).\n\n"
        + autodoc("automodule", f"{lib}.{mod}", "members") + "\n", encoding="utf-8")


def toctree(caption: str, entries) -> str:
    return f"```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + "".join(f"{t} <{p}>\n" for t, p in entries) + "```\n"


def prepare(proc: Path, cfg) -> Path:
    "Fill `proc` with the book's sources (book/) and the original notebooks to download (extra/)."
    book, extra = proc / "book", proc / "extra" / cfg.nbs_path.name
    # index.ipynb, should one appear, is nbdev's source of README.md (readme_nb), already the front page
    lessons = sorted(p for p in cfg.nbs_path.glob("*.ipynb") if not p.name.startswith(("_", ".")) and p.stem != "index")
    if not lessons: raise SystemExit(f"no notebooks in {cfg.nbs_path}")
    extra.mkdir(parents=True)
    lesson_toc, api_toc = [], []
    for src in lessons:
        title, mod = process_lesson(src, book / cfg.nbs_path.name / src.name, cfg)
        shutil.copy2(src, extra / src.name)
        number = src.stem.split("_")[0]
        label = f"{number} {title}" if number.isdigit() else title  # an appendix: its title says so
        lesson_toc.append((label, f"{cfg.nbs_path.name}/{src.stem}"))
        if mod and (cfg.lib_path / f"{mod.replace('.', '/')}.py").exists():
            api_page(book, mod, src.name, label, cfg)
            api_toc.append((f"{cfg.lib_name}.{mod}", f"api/{mod}"))
    result_toc = []
    for page in PAGES:  # pages of their own: the leaderboard, the report card, the open questions, at their paths here
        (book / page).parent.mkdir(parents=True, exist_ok=True)
        if page in GENERATED: (book / page).write_text(GENERATED[page](ROOT / "results"), encoding="utf-8")
        else: shutil.copy2(ROOT / page, book / page)
        result_toc.append((title_of_md(book / page), page.removesuffix(".md")))
    draw_page(book, proc / "extra")  # the page in the book; its files in html_extra_path, copied as they are
    front_page(book, cfg, "\n".join([toctree("Lessons", lesson_toc), toctree("Try it", [DRAW_ENTRY]),
                                      toctree("Results", result_toc), toctree("API reference", api_toc)]))
    return book


PAGES = ["results/LEADERBOARD.md", "results/REPORT_CARD.md", "OPEN_QUESTIONS.md"]


def _results_page(name: str):
    "Lesson 21's writer of a results page, e.g. `report_card_page`: the site shows what `results/` gives today."
    return lambda results: getattr(importlib.import_module("mnist_course.results"), name)(results)


GENERATED = {"results/LEADERBOARD.md": _results_page("leaderboard_page"),
             "results/REPORT_CARD.md": _results_page("report_card_page")}


# ---- the Draw a digit page (lesson 22): a page of the book, its scripts and networks copied beside it ---------
DRAW = DOCS / "draw"                               # the page's MyST source, its CSS and JavaScript
DRAW_ENTRY = ("Draw a digit", "draw/index")        # its place in the sidebar
# the committed baselines of the fast preset (lesson 19): the first answers, the five are compared
DRAW_RUNS = [f"results/beyond-cpu/baseline-seed{s}" for s in range(5)]
DRAW_RUN = DRAW_RUNS[0]
ORT_WEB = DOCS / "vendor" / "onnxruntime-web"      # the pinned npm package, unpacked by `make docs` (git-ignored)
ORT_FILES = ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]


def draw_config() -> dict:
    "What the page's script reads: each network's ONNX file and seed, and the answering network's name and size."
    from mnist_course.checkpoint import load_model
    model, state = load_model(ROOT / DRAW_RUN)
    seed = lambda run: json.loads((ROOT / run / "config.json").read_text(encoding="utf-8"))["seed"]
    return {"networks": [{"file": f"networks/{Path(r).name}.onnx", "seed": seed(r)} for r in DRAW_RUNS],
            "model": f"the course's {state['config']['model']} CNN",
            "parameters": sum(p.numel() for p in model.parameters())}


def draw_page(book: Path, extra: Path) -> Path:
    """Write the page's source to `book/draw/index.md`, for Sphinx to render with the site's theme and navigation, and
    its files to `extra/draw/`: its scripts, onnxruntime-web, and one ONNX file per run of DRAW_RUNS exported from the
    committed weights with the package's `export_onnx`, so the page runs the runs the lessons read."""
    from mnist_course.export import export_onnx
    missing = [f for f in ORT_FILES if not (ORT_WEB / "dist" / f).is_file()]
    if missing: raise SystemExit(f"{ORT_WEB / 'dist'} lacks {', '.join(missing)}: run `make docs`, which unpacks "
                                 "onnxruntime-web from the npm registry there (it needs npm)")
    m = json.loads((ROOT / DRAW_RUN / "metrics.json").read_text(encoding="utf-8"))
    config = draw_config()
    fill = {"MODEL": f"{config['model']} ({m['epochs']} epochs of the fast preset)", "RUN": DRAW_RUN,
            "ACCURACY": f"{m['test_acc']:.2%}", "MACHINE": f"trained on {m['machine']['hardware']}",
            "ORT_VERSION": json.loads((ORT_WEB / "package.json").read_text(encoding="utf-8"))["version"],
            "CONFIG": json.dumps(config)}
    page = (DRAW / "index.md").read_text(encoding="utf-8")
    for key, value in fill.items(): page = page.replace("{{" + key + "}}", value)
    (book / "draw").mkdir(parents=True, exist_ok=True)
    (book / "draw" / "index.md").write_text(page, encoding="utf-8")
    dest = extra / "draw"
    (dest / "ort").mkdir(parents=True)
    for f in ("draw.js", "mnist.js", "draw.css"): shutil.copy2(DRAW / f, dest / f)
    for f in ORT_FILES: shutil.copy2(ORT_WEB / "dist" / f, dest / "ort" / f)
    for run, net in zip(DRAW_RUNS, config["networks"]): export_onnx(ROOT / run, dest / net["file"])
    return dest


def sphinx(book: Path, extra: Path, proc: Path) -> Path:
    "Render `book` with docs/conf.py into `proc/html`, `extra` copied into it as it is; the HTML folder."
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(DOCS), "-d", str(proc / "doctrees"),
           "-D", f"html_extra_path={extra}", str(book), str(proc / "html")]
    if subprocess.run(cmd, cwd=ROOT).returncode: raise SystemExit("sphinx-build failed")
    return proc / "html"


def title_of_md(path: Path) -> str:
    "A markdown page's H1."
    m = re.search(r"^#\s+(.+?)\s*$", path.read_text(encoding="utf-8"), re.M)
    if not m: raise SystemExit(f"{path}: no '# Title' line")
    return m[1]


def warn(msg: str) -> None: print(f"WARNING: {msg}", file=sys.stderr)


def main(argv=None) -> None:
    cfg = get_config(path=ROOT)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=cfg.doc_path, help="the site (default: settings.ini doc_path, _docs)")
    p.add_argument("--proc", type=Path, default=ROOT / "_proc", help="processed notebooks and Sphinx's cache")
    a = p.parse_args(argv)
    out, proc = a.out.resolve(), a.proc.resolve()
    for d in (out, proc):  # never delete a folder that this script did not make
        if d.exists() and any(d.iterdir()) and not ((d / ".buildinfo").exists() or (d / "book").exists()):
            raise SystemExit(f"{d} exists and is not an earlier build; remove it or choose another folder")
        shutil.rmtree(d, ignore_errors=True)
    t0 = time.time()
    os.chdir(ROOT)  # nbdev's processors read settings.ini from the working folder
    sys.path.insert(0, str(ROOT))
    book = prepare(proc, cfg)
    print(f"processed {len(list(book.rglob('*.ipynb')))} lessons into {book} in {time.time() - t0:.1f}s")
    # Sphinx writes into proc/html (MyST-NB puts its image files beside its output folder), then the site moves
    html = sphinx(book, proc / "extra", proc)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(html, out)
    print(f"site in {out} ({time.time() - t0:.0f}s); open {out / 'index.html'}")


if __name__ == "__main__": main()
