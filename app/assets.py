"""Where the page's static files and templates are: the one place that knows.

Installed (`pip install .`), they are package data: `app/static` and `app/templates`
inside the installed package (pyproject maps the checkout's top-level `static/` and
`templates/` there). Run from a checkout, they are those top-level folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _folder(name: str) -> Path:
    packaged = Path(str(resources.files("app") / name))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / name


STATIC = _folder("static")
TEMPLATES = _folder("templates")
