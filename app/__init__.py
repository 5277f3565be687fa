"""Interleave: a visual simulator of Python concurrency.

Nearly empty on purpose: child processes import `app.*` modules, and importing this
package must stay cheap (no FastAPI) so a process's start cost is Python's, not ours.
The one thing done here is choosing, once per process and before any of them is
imported, whether the recorder's modules run compiled or interpreted (app/hotpath.py).
"""

from app import hotpath

hotpath.select()
