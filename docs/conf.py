"""Sphinx configuration for the dqmask documentation (``make docs``).

The user guide is the markdown pages of this folder, read as they are through myst-parser;
the API reference is generated from the docstrings (sphinx-automodapi). ``make docs`` builds
with ``-W``: a broken docstring or page fails the build, and ``make test`` runs it.
No network is used (no intersphinx), so the build works where only PyPI is reachable.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# document this source tree, not whatever dqmask an environment has installed
sys.path.insert(0, str(HERE.parent / "src"))

from dqmask import __version__  # noqa: E402  (written once, in src/dqmask/__init__.py)

project = "dqmask"
author = "dqmask developers"
copyright = "dqmask developers"  # noqa: A001
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
# the markdown pages are the user guide as written for GitHub: headings become anchors
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# numpy-style docstrings (Parameters / Returns / Examples)
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# dataclass fields listed under "Attributes" become :ivar: fields, not a second
# description of the attribute automodapi already documents
napoleon_use_ivar = True
autodoc_typehints = "description"
autodoc_member_order = "bysource"

# automodapi writes its generated pages to docs/api/ (ignored by git, rebuilt every time)
automodapi_toctreedirnm = "api"
automodapi_writereprocessed = False
automodsumm_inherited_members = False
numpydoc_show_class_members = False

html_theme = "alabaster"
html_title = f"dqmask {release}"
html_static_path: list[str] = []
