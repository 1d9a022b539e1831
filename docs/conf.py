"""Sphinx configuration of the course website; `docs/build.py` runs Sphinx on the processed notebooks
with this file. Names and links come from settings.ini, like the package's."""
import sys
from configparser import ConfigParser
from pathlib import Path

from fastcore.docments import docments

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # autodoc imports the package from this checkout
_ini = ConfigParser(delimiters=["="])
_ini.read(ROOT / "settings.ini", encoding="utf-8")
cfg = _ini["DEFAULT"]

project = html_title = cfg["title"]
author, copyright, release = cfg["author"], cfg["copyright"], cfg["version"]

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.viewcode", "sphinx.ext.githubpages"]
exclude_patterns = ["**.ipynb_checkpoints"]
smartquotes = False  # 'baseline' in prose and docstrings is code-like: keep the quotes a learner would type

# MyST-NB: show the outputs saved in the notebooks, never execute them
nb_execution_mode = "off"
nb_merge_streams = True
nb_render_markdown_format = "gfm"  # tables printed by lesson cells (Markdown outputs) render as tables
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3  # README's in-page links (#start-here)

# API cards: signatures and docstrings from the package; docstrings are markdown-ish, so `x` is code
autodoc_member_order = "bysource"
autodoc_typehints_format = "short"
default_role = "py:obj"

html_theme = "sphinx_book_theme"
html_theme_options = {
    "repository_url": cfg["git_url"],
    "repository_branch": cfg["branch"],
    "use_repository_button": True,
    "use_issues_button": True,
    "use_download_button": False,  # lessons carry a link to the original notebook instead
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
html_sidebars = {"**": ["navbar-logo.html", "icon-links.html", "sbt-sidebar-nav.html"]}  # search: in the header
html_static_path = [str(ROOT / "docs" / "_static")]
html_css_files = ["course.css"]
html_extra_path = []  # build.py adds the original notebooks (downloaded from each lesson)
html_show_sourcelink = False


def _param_comments(app, what, name, obj, options, lines):
    "nbdev documents parameters with comments (docments); show them as Sphinx parameter fields."
    if what not in ("function", "method", "class"): return
    try: docs = docments(obj)
    except Exception: return  # no source (builtins, C extensions): the docstring alone
    fields = [f":param {k}: {v}" for k, v in docs.items() if v and k != "return"]
    if docs.get("return"): fields.append(f":returns: {docs['return']}")
    if fields: lines.extend(["", *fields])


def setup(app):
    app.connect("autodoc-process-docstring", _param_comments)
