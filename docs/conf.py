"""Sphinx configuration of collabzoo's documentation site (``make docs``).

Sphinx with MyST and the furo theme, as PettingZoo and Gymnasium: the docstrings are already
Sphinx's (Google style read by napoleon, reST cross-reference roles), so autodoc renders them
and nitpicky mode turns every broken reference to collabzoo's own code into a warning, which
``make docs`` (``-W``) makes an error. ``_ext/collabzoo_docs.py`` generates the env, algorithm,
CLI and API pages from the code at each build.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

project = "collabzoo"
author = "collabzoo developers"
copyright = "collabzoo developers, MIT licence"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "collabzoo_docs",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README.md"]

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_default_options = {"undoc-members": False}
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# an "Attributes:" section as fields, so that autodoc's own attribute entries stay unique
napoleon_use_ivar = True

# Every reference into collabzoo must resolve; other packages' objects are not documented
# here (no network for intersphinx inventories), so references to them are not checked.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!collabzoo\b)(?!~collabzoo\b).*")]

html_theme = "furo"
html_title = "collabzoo"
html_static_path: list[str] = []
html_show_sourcelink = False
