"""Interleave: a visual simulator of Python concurrency.

Kept empty on purpose: child processes import `app.*` modules, and importing this
package must stay cheap (no FastAPI) so a process's start cost is Python's, not ours.
"""
