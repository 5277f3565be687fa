"""Mutation testing of the core: does the fast suite notice a small bug?

`make mutate` (or `python scripts/mutate.py [--modules app/export.py ...]`).

How it works, and why it is ours rather than mutmut's or cosmic-ray's:
- The modules and the equivalent mutants come from `pyproject.toml`
  (`[tool.mutate.modules]`: one line per module) and `tests/mutation_equivalents.toml`
  (each equivalent mutant's id with the reason it cannot be told apart).
- Mutants are made from the AST, one at a time, and spliced into the source text
  (so a surviving mutant's diff is the line as written, changed in one place); each
  splice is checked to parse back to exactly the mutated tree.
- One baseline run of the fast suite under coverage, with a context per test
  (`--cov-context=test`), tells which tests execute each line. A mutant runs only
  the tests that execute its lines, stopping at the first failure: first the tests
  that killed most of the module's mutants so far, then the fastest. (Fastest first
  alone spent two minutes a mutant on the recorder's module-level code, which every
  test runs and only a slow test caught.)
  Code that also runs in child processes has no test contexts there: those modules
  name test files that run as well.
- Each mutant runs in a *fresh* `python -m pytest` in its own process group, on a
  private copy of the tree, under a timeout; the whole group is killed afterwards.
  mutmut 3 forks its test runs from one warm pytest process; ours start
  forkservers, and a forked copy inherits a forkserver that is gone, so every
  mutant failed (looked killed). A fresh interpreter per mutant costs ~1 s of
  start-up and is what this project's processes need. Once a mutant's run has
  failed, it ends as soon as its report is out (scripts/mutate_exit.py), rather
  than wait for lesson threads the mutant left behind.

Outcomes: killed (a test failed or errored), timeout (counted as killed: the suite
hung or ran 4x over its baseline), survived, not covered (no test executes the line:
a survivor that costs nothing to find), equivalent (listed with a reason; excluded
from the score). The report goes between markers in docs/TESTING.md.
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import dataclasses
import difflib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app import hotpath  # noqa: E402  (the standard library only: which modules are compiled)

EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.toml"
REPORT = ROOT / "docs" / "TESTING.md"
STATE = ROOT / ".mutate"  # cached baseline and results (not committed)
FAST_SUITE = ["tests", "--ignore=tests/e2e", "--ignore=tests/container"]
# What a copy of the tree needs for the fast suite (templates and static: create_app mounts
# them; bench: tests/test_fuzz.py imports its fuzzer; a copy without it could not collect
# that test, and pytest's collection error read as a kill).
TREE = ["app", "tests", "bench", "templates", "static", "pyproject.toml"]
# A hang counts as a kill, so the budgets must be generous: on a machine shared with
# other jobs a pytest takes 20-40 s of wall time just to start, and a run that only
# timed out because the machine was slow would count a survivor as killed.
TIMEOUT_FACTOR = 4.0
TIMEOUT_FLOOR_S = 180.0
TEST_TIMEOUT_FLOOR_S = 60.0  # per test (pytest-timeout): a mutant that hangs one test fails it
MUTATORS = 1  # bump when the mutation operators change: the cached mutant lists are then remade
# The browser plugins are not needed by the fast suite and cost start-up time per mutant.
PYTEST = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:playwright", "-p", "no:base_url"]
FIRST_FAILURE_ENDS = ["-x", "-p", "mutate_exit"]  # a mutant's run: see scripts/mutate_exit.py
# The tests' own process runs the recorder's sources: coverage cannot see compiled code,
# and a mutant of them must run as written. (Fresh interpreters a test starts may still
# ask for the compiled build: every copy of the tree carries it, see `Workspace`.)
INTERPRETED = {hotpath.ENV: hotpath.INTERPRETED}
# A mutant of these makes the copy's compiled build stale (built from other sources).
COMPILED_SOURCES = frozenset(str(hotpath.source_file(m, ROOT).relative_to(ROOT)) for m in hotpath.MODULES)


# --- configuration -------------------------------------------------------------------
def mutate_config() -> dict[str, Any]:
    """`[tool.mutate]` of pyproject.toml."""
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutate"]
    return config


def configured_modules() -> dict[str, list[str]]:
    """Each module, and the tests to run for its lines no test context covers: files
    (children modules) and tests that run the module in an interpreter of their own."""
    config = mutate_config()
    where = {"parent": [], "children": config["child_tests"]}
    modules: dict[str, str] = config["modules"]
    fresh: dict[str, list[str]] = config.get("fresh_interpreter_tests", {})
    for module, runs_in in modules.items():
        if runs_in not in where:
            sys.exit(f"[tool.mutate.modules] {module} = {runs_in!r}: say 'parent' or 'children'")
    return {module: where[runs_in] + fresh.get(module, []) for module, runs_in in modules.items()}


def needs_build() -> frozenset[str]:
    """Tests that need a compiled build of the tree's own sources: not run on a mutant of
    `COMPILED_SOURCES`, whose build no longer matches whatever the mutant changed."""
    return frozenset(mutate_config().get("needs_build", []))


def equivalents() -> dict[str, str]:
    if not EQUIVALENTS.exists():
        return {}
    entries = tomllib.loads(EQUIVALENTS.read_text()).get("equivalent", [])
    return {entry["id"]: entry["reason"] for entry in entries}


# --- making mutants ------------------------------------------------------------------
@dataclasses.dataclass
class Mutant:
    module: str
    id: str  # "<module> | <qualname>: <before> -> <after>[ #n]": stable while that code is
    line: int  # first line of the mutated node
    end_line: int
    source: str  # the whole mutated module
    diff: str
    operator: str  # compare, arithmetic, call removed...

    @property
    def lines(self) -> range:
        return range(self.line, self.end_line + 1)


_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv,
}

# Where a mutation means nothing: annotations (strings under `from __future__ import
# annotations`), f-string internals (Python 3.11 reports wrong columns inside them),
# `__all__`, and the functions named in the config's `skip`.
Edit = Callable[[ast.AST, list[ast.AST]], ast.AST | None]


def _candidates(tree: ast.Module, skip_functions: set[str]) -> Iterator[tuple[int, str, str, Edit]]:
    """(index of the node in ast.walk order, qualname, operator name, edit). The edit
    gets the node (in a fresh copy of the tree) and its parent chain, changes it in
    place, and returns the node to splice in (the changed node, or a replacement)."""
    parents: dict[int, ast.AST] = {}
    order: dict[int, int] = {}
    for index, node in enumerate(ast.walk(tree)):
        order[id(node)] = index
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node

    def qualname(node: ast.AST) -> str:
        names = []
        current: ast.AST | None = node
        while current is not None:
            if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.append(current.name)
            current = parents.get(id(current))
        return ".".join(reversed(names)) or "<module>"

    def excluded(node: ast.AST) -> bool:
        current: ast.AST | None = node
        child: ast.AST | None = None
        while current is not None:
            if isinstance(current, ast.JoinedStr):
                return True
            if isinstance(current, ast.arg) and child is current.annotation:
                return True
            if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef) and (
                child is current.returns or current.name in skip_functions
            ):
                return True
            if isinstance(current, ast.AnnAssign) and child is current.annotation:
                return True
            if isinstance(current, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in current.targets
            ):
                return True
            child, current = current, parents.get(id(current))
        return False

    for node in ast.walk(tree):
        if not hasattr(node, "lineno") or excluded(node):
            continue
        index = order[id(node)]
        if isinstance(node, ast.Compare):
            for position, op in enumerate(node.ops):
                swap = _COMPARE_SWAPS.get(type(op))
                if swap is not None:
                    yield index, qualname(node), "compare", _set_compare(position, swap)
            for position, right in enumerate([node.left, *node.comparators]):
                if isinstance(right, ast.Constant) and isinstance(right.value, str):
                    yield index, qualname(node), "string", _mangle_compared_string(position)
        elif isinstance(node, ast.BinOp | ast.AugAssign) and type(node.op) in _BINOP_SWAPS:
            yield index, qualname(node), "arithmetic", _set_attr("op", _BINOP_SWAPS[type(node.op)]())
        elif isinstance(node, ast.BoolOp):
            flipped = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            yield index, qualname(node), "boolean", _set_attr("op", flipped)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield index, qualname(node), "negation", _unwrap_not
        elif isinstance(node, ast.Constant) and not isinstance(parents.get(id(node)), ast.Compare):
            value = node.value
            if isinstance(value, bool):
                yield index, qualname(node), "constant", _set_attr("value", not value)
            elif isinstance(value, int):
                yield index, qualname(node), "constant", _set_attr("value", value + 1)
            elif isinstance(value, float):
                yield index, qualname(node), "constant", _set_attr("value", value * 10 if value else 1.0)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            yield index, qualname(node), "call removed", _replace_with_pass
        elif isinstance(node, ast.Dict | ast.Set) and len(_elements(node)) > 0:
            for position in range(len(_elements(node))):
                yield index, qualname(node), "element dropped", _drop_element(position)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg is not None:
                    yield index, qualname(node), "argument dropped", _drop_keyword(keyword.arg)


def _set_attr(name: str, value: object) -> Edit:
    def edit(node: ast.AST, chain: list[ast.AST]) -> ast.AST:
        setattr(node, name, value)
        return node

    return edit


def _set_compare(position: int, op: type[ast.cmpop]) -> Edit:
    def edit(node: ast.AST, chain: list[ast.AST]) -> ast.AST:
        assert isinstance(node, ast.Compare)
        node.ops[position] = op()
        return node

    return edit


def _mangle_compared_string(position: int) -> Edit:
    def edit(node: ast.AST, chain: list[ast.AST]) -> ast.AST:
        assert isinstance(node, ast.Compare)
        operand = [node.left, *node.comparators][position]
        assert isinstance(operand, ast.Constant)
        operand.value = f"XX{operand.value}XX"
        return node

    return edit


def _unwrap_not(node: ast.AST, chain: list[ast.AST]) -> ast.AST:
    assert isinstance(node, ast.UnaryOp)
    return node.operand


def _replace_with_pass(node: ast.AST, chain: list[ast.AST]) -> ast.AST:
    return ast.Pass()


def _drop_keyword(name: str) -> Edit:
    def edit(node: ast.AST, chain: list[ast.AST]) -> ast.AST:
        assert isinstance(node, ast.Call)
        node.keywords = [k for k in node.keywords if k.arg != name]
        return node

    return edit


def _elements(node: ast.AST) -> list[ast.AST | None]:
    return list(node.keys) if isinstance(node, ast.Dict) else list(node.elts)  # type: ignore[attr-defined]


def _drop_element(position: int) -> Edit:
    def edit(node: ast.AST, chain: list[ast.AST]) -> ast.AST:
        if isinstance(node, ast.Dict):
            del node.keys[position], node.values[position]
        else:
            assert isinstance(node, ast.Set)
            del node.elts[position]
        return node

    return edit


def _replace_child(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for field, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, field, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise ValueError("child not found")


def _node_and_parent(tree: ast.Module, index: int) -> tuple[ast.AST, ast.AST]:
    """The node at `index` in ast.walk order, and its parent (same order as `_candidates`)."""
    for position, (node, parent) in enumerate(_walk_with_parents(tree)):
        if position == index:
            assert parent is not None
            return node, parent
    raise IndexError(index)


def _walk_with_parents(tree: ast.AST) -> Iterator[tuple[ast.AST, ast.AST | None]]:
    """ast.walk's breadth-first order, with each node's parent."""
    todo: deque[tuple[ast.AST, ast.AST | None]] = deque([(tree, None)])
    while todo:
        node, parent = todo.popleft()
        todo.extend((child, node) for child in ast.iter_child_nodes(node))
        yield node, parent


def cached_mutants(module: str, skip_functions: set[str]) -> tuple[list[Mutant], int]:
    """`make_mutants`, kept in .mutate/ while the module, the skip list and `MUTATORS`
    are unchanged (making them costs ~0.1 s of CPU per mutant)."""
    key = hashlib.sha256()
    for part in ((ROOT / module).read_bytes(), str(MUTATORS).encode(), repr(sorted(skip_functions)).encode()):
        key.update(part)
    cached = STATE / f"mutants-{module.replace('/', '_')}-{key.hexdigest()[:16]}.json"
    if cached.exists():
        raw = json.loads(cached.read_text())
        return [Mutant(**m) for m in raw["mutants"]], raw["unspliceable"]
    mutants, unspliceable = make_mutants(module, skip_functions)
    STATE.mkdir(exist_ok=True)
    cached.write_text(
        json.dumps({"mutants": [dataclasses.asdict(m) for m in mutants], "unspliceable": unspliceable})
    )
    return mutants, unspliceable


def make_mutants(module: str, skip_functions: set[str]) -> tuple[list[Mutant], int]:
    """Every mutant of `module` (and how many candidates could not be spliced)."""
    text = (ROOT / module).read_text()
    data = text.encode()
    line_starts = [0]
    for line in data.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    tree = ast.parse(text)
    mutants: list[Mutant] = []
    seen: dict[str, int] = {}
    unspliceable = 0
    for index, qualname, operator, edit in _candidates(tree, skip_functions):
        fresh = ast.parse(text)  # a fresh tree to change: faster than deepcopy
        target, parent = _node_and_parent(fresh, index)
        before_dump = ast.dump(target)
        replacement = edit(target, [parent])
        if replacement is None:
            continue
        if replacement is not target:
            _replace_child(parent, target, replacement)
        if ast.dump(replacement) == before_dump:
            continue
        expected = ast.dump(fresh)
        start = line_starts[target.lineno - 1] + target.col_offset  # type: ignore[attr-defined]
        end = line_starts[target.end_lineno - 1] + target.end_col_offset  # type: ignore[attr-defined]
        original_segment = data[start:end].decode()
        mutated_source = None
        for wrap in ("{}", "({})"):
            new_segment = wrap.format(ast.unparse(replacement))
            candidate = (data[:start] + new_segment.encode() + data[end:]).decode()
            try:
                if ast.dump(ast.parse(candidate)) == expected:
                    mutated_source = candidate
                    break
            except SyntaxError:
                continue
        if mutated_source is None:
            unspliceable += 1
            continue
        before = " ".join(original_segment.split())
        after = " ".join(new_segment.split())
        key = f"{module} | {qualname}: {before} -> {after}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f" #{seen[key]}"
        diff = "".join(
            difflib.unified_diff(
                text.splitlines(keepends=True),
                mutated_source.splitlines(keepends=True),
                fromfile=module,
                tofile=module,
                n=0,
            )
        )
        mutants.append(
            Mutant(
                module, key, target.lineno, target.end_lineno or target.lineno, mutated_source, diff, operator
            )  # type: ignore[attr-defined]
        )
    mutants.sort(key=lambda m: (m.line, m.id))
    return mutants, unspliceable


# --- the baseline: which tests run which lines, and how long each takes -------------------
def tree_digest() -> str:
    digest = hashlib.sha256()
    for top in ("app", "tests"):
        for path in sorted((ROOT / top).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


@dataclasses.dataclass
class Baseline:
    lines: dict[str, dict[int, list[str]]]  # module -> line -> test node ids
    durations: dict[str, float]  # test node id -> seconds
    failing: list[str]  # tests that failed in the baseline run: not used (they cannot tell)

    def tests_for(self, mutant: Mutant, extra: list[str]) -> list[str]:
        found: set[str] = set()
        for line in mutant.lines:
            found.update(self.lines.get(mutant.module, {}).get(line, []))
        module_lines = self.lines.get(mutant.module, {})
        at_import = any(line in module_lines for line in mutant.lines)  # ran, but in no test
        if not found and at_import:
            # Module and class bodies and default arguments run at import, before any
            # test's context starts: every test that runs the module's code may use them.
            found = {t for by_line in self.lines.get(mutant.module, {}).values() for t in by_line}
        if extra:
            # A module that also runs in child processes: its lines may run there for
            # tests that no context names, even where some test ran them here.
            found |= {t for t in self.durations if any(t.startswith(f) for f in extra)}
        return sorted(found, key=lambda t: self.durations.get(t, 1.0))


def baseline(modules: list[str]) -> Baseline:
    STATE.mkdir(exist_ok=True)
    cached = STATE / f"baseline-{tree_digest()}.json"
    if cached.exists():
        raw = json.loads(cached.read_text())
        return Baseline(
            {m: {int(k): v for k, v in lines.items()} for m, lines in raw["lines"].items()},
            raw["durations"],
            raw["failing"],
        )
    print("baseline: the fast suite under coverage, one context per test ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="mutate-baseline-") as scratch:
        junit = Path(scratch) / "junit.xml"
        env = os.environ | INTERPRETED | {"COVERAGE_FILE": str(Path(scratch) / ".coverage")}
        command = [
            sys.executable,
            *PYTEST,
            "--cov=app",
            "--cov-context=test",
            "--cov-report=",
            f"--junitxml={junit}",
            *FAST_SUITE,
        ]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=env, check=False)
        if done.returncode not in (0, 1):
            sys.exit(f"the baseline run of the fast suite ended with exit code {done.returncode}")
        print(f"baseline: {time.monotonic() - started:.0f} s", flush=True)
        durations, failing = _junit_results(junit)
        if failing:
            # A test that fails without a mutation would "kill" every mutant it runs on.
            print(f"baseline: {len(failing)} tests failed unmutated and are left out: {failing}")
        from coverage import CoverageData

        data = CoverageData(basename=str(Path(scratch) / ".coverage"))
        data.read()
        lines: dict[str, dict[int, list[str]]] = {}
        for filename in data.measured_files():
            module = str(Path(filename).resolve().relative_to(ROOT))
            by_line = data.contexts_by_lineno(filename)
            lines[module] = {
                line: sorted({t for c in contexts if c and (t := c.rsplit("|", 1)[0]) not in failing})
                for line, contexts in by_line.items()
            }
    cached.write_text(json.dumps({"lines": lines, "durations": durations, "failing": failing}))
    return Baseline(lines, durations, failing)


def _junit_results(junit: Path) -> tuple[dict[str, float], list[str]]:
    """Each passing test's duration, and the tests that failed."""
    durations, failing = {}, []
    for case in ElementTree.parse(junit).iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        # junit's classname is the dotted module path (plus any class): back to a node id
        node = "/".join(classname.split(".")) + f".py::{name}"
        if case.find("failure") is not None or case.find("error") is not None:
            failing.append(node)
        else:
            durations[node] = float(case.get("time", "0"))
    return durations, sorted(failing)


# --- running mutants -----------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, timeout, survived, not covered, equivalent, error
    tests: int
    seconds: float
    detail: str = ""
    before: str | None = None  # the status with only the tests of --compare's revision


class Workspace:
    """A private copy of the tree for one worker thread; one mutant at a time.

    It carries the tree's compiled recorder (`make recorder`), so that the tests of
    which build a fresh interpreter runs can run on a mutant of anything but its
    sources (the copy's per-module shims are in app/; the library is at the top)."""

    def __init__(self, parent: Path) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="tree-", dir=parent))
        for name in TREE:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, self.path / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, self.path / name)
        for library in ROOT.glob("interleave_*__mypyc*"):
            shutil.copy2(library, self.path / library.name)

    def run(
        self, mutant: Mutant, tests: list[str], timeout_s: float, test_timeout_s: float
    ) -> tuple[str, str]:
        target = self.path / mutant.module
        original = target.read_text()
        target.write_text(mutant.source)
        path = os.pathsep.join([str(self.path), str(ROOT / "scripts")])  # the second for mutate_exit
        env = os.environ | INTERPRETED | {"PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("COVERAGE_PROCESS_START", None)
        limit = f"timeout={test_timeout_s:.0f}"
        command = [sys.executable, *PYTEST, *FIRST_FAILURE_ENDS, "-o", limit, *tests]
        try:
            proc = subprocess.Popen(
                command,
                cwd=self.path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                output, _ = proc.communicate(timeout=timeout_s)
                code: int | None = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
                output = b""
            finally:
                # Everything it started (forkserver, servers, children) goes with it.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                if code is None:
                    output, _ = proc.communicate()
        finally:
            target.write_text(original)
        text = output.decode(errors="replace")
        if code is None:
            return "timeout", ""
        if code == 0:
            return "survived", ""
        no_import = "while loading conftest" in text or "found no collectors" in text
        if code in (1, 2) or (code == 4 and no_import):
            # a failing test, or a module that no longer imports (exit 4: conftest, or
            # the named tests' own module, could not be imported with the mutant)
            failed = re.findall(r"^(?:FAILED|ERROR) (.+)$", text, re.MULTILINE)
            return "killed", failed[0] if failed else f"exit {code}"
        return "error", text[-2000:]


def tests_at(revision: str) -> set[str]:
    """`path::function` of every test that exists at a git revision."""
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", revision, "tests"], cwd=ROOT, capture_output=True, text=True
    )
    found = set()
    for path in listed.stdout.split():
        if path.endswith(".py"):
            source = subprocess.run(
                ["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True, text=True
            )
            for node in ast.walk(ast.parse(source.stdout)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
                    found.add(f"{path}::{node.name}")
    return found


def _function_of(node_id: str) -> str:
    return node_id.split(" - ", 1)[0].split("[", 1)[0]


def _killed_by_a_test(status: str, detail: str) -> bool:
    """A kill whose detail names the test that failed (not an import error or exit code)."""
    return status in ("killed", "timeout") and detail.startswith("tests/")


def _as_equivalent(status: str | None, known: bool) -> str | None:
    """A listed equivalent that nothing kills counts as equivalent, not as a survivor."""
    return "equivalent" if known and status in ("survived", "not covered") else status


def run_mutants(
    mutants: list[Mutant],
    base: Baseline,
    extras: dict[str, list[str]],
    known: dict[str, str],
    jobs: int,
    journal: Path,
    older: set[str] | None = None,
    run: bool = True,
) -> list[Outcome]:
    """Run every mutant not already in `journal` (one JSON line per finished mutant:
    an interrupted run resumes, and `--report-only` reports what is done). With
    `older` (the tests of an earlier revision), those run first: a mutant that only a
    newer test kills gets `before = "survived"`, so one run scores the suite with and
    without the newer tests."""
    done: dict[str, dict[str, object]] = {}
    if journal.exists():
        for line in journal.read_text().splitlines():
            entry = json.loads(line)
            done[str(entry["id"])] = entry
    outcomes: list[Outcome] = []
    todo: list[tuple[Mutant, list[str]]] = []

    def settle(
        mutant: Mutant, status: str, before: str | None, tests: int, seconds: float, detail: str
    ) -> Outcome:
        return Outcome(
            mutant,
            _as_equivalent(status, mutant.id in known) or status,
            tests,
            seconds,
            detail,
            _as_equivalent(before, mutant.id in known),
        )

    stale_build = needs_build()
    for mutant in mutants:
        tests = base.tests_for(mutant, extras.get(mutant.module, []))
        if mutant.module in COMPILED_SOURCES:
            tests = [t for t in tests if t not in stale_build]
        if older is not None:
            tests.sort(key=lambda t: _function_of(t) not in older)  # stable: by duration within
        if not tests:
            outcomes.append(
                settle(mutant, "not covered", "not covered" if older is not None else None, 0, 0.0, "")
            )
        elif mutant.id in done:
            entry = done[mutant.id]
            outcomes.append(
                settle(
                    mutant,
                    str(entry["status"]),
                    entry["before"] if entry["before"] is None else str(entry["before"]),
                    int(str(entry["tests"])),
                    float(str(entry["seconds"])),
                    str(entry["detail"]),
                )
            )
        elif run:
            todo.append((mutant, tests))
    lock = threading.Lock()
    local = threading.local()
    scratch = Path(tempfile.mkdtemp(prefix="mutate-"))
    finished = [0]
    # Per module, how many of its mutants each test killed: a test that caught one bug
    # in a module is the likeliest to catch the next, so it runs first.
    killers: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for outcome in outcomes:
        if _killed_by_a_test(outcome.status, outcome.detail):
            killers[outcome.mutant.module][outcome.detail] += 1

    def killers_first(mutant: Mutant, tests: list[str]) -> list[str]:
        with lock:
            kills = dict(killers[mutant.module])
        # stable: within each rank, the order run_mutants gave (older tests, then fastest)
        return sorted(tests, key=lambda t: -kills.get(t, 0))

    def one(item: tuple[Mutant, list[str]]) -> Outcome:
        mutant, tests = item
        tests = killers_first(mutant, tests)
        if not hasattr(local, "workspace"):
            local.workspace = Workspace(scratch)
        budget = sum(base.durations.get(t, 1.0) for t in tests)
        timeout_s = max(TIMEOUT_FLOOR_S, TIMEOUT_FACTOR * budget + 10)
        slowest = max(base.durations.get(t, 1.0) for t in tests)
        test_timeout_s = max(TEST_TIMEOUT_FLOOR_S, TIMEOUT_FACTOR * slowest)
        started = time.monotonic()
        status, detail = local.workspace.run(mutant, tests, timeout_s, test_timeout_s)
        if status == "killed" and "Timeout" in detail:
            status = "timeout"
        before = None
        if older is not None:
            if _killed_by_a_test(status, detail):
                before = status if _function_of(detail) in older else "survived"
            elif status == "survived" and not any(_function_of(t) in older for t in tests):
                before = "not covered"
            else:
                before = status
        seconds = time.monotonic() - started
        entry = {"id": mutant.id, "status": status, "before": before, "tests": len(tests), "seconds": seconds}
        with lock:
            finished[0] += 1
            if _killed_by_a_test(status, detail):
                killers[mutant.module][detail] += 1
            with journal.open("a") as out:
                out.write(json.dumps(entry | {"detail": detail}) + "\n")
            print(
                f"[{finished[0]}/{len(todo)}] {status:8} {seconds:5.1f}s {mutant.module}:{mutant.line} {mutant.id}",
                flush=True,
            )
        return settle(mutant, status, before, len(tests), seconds, detail)

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            outcomes.extend(pool.map(one, todo))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return outcomes


# --- the report --------------------------------------------------------------------------
def _score(outcomes: list[Outcome], before: bool = False) -> tuple[int, int, float]:
    statuses = [o.before if before else o.status for o in outcomes]
    counted = [s for s in statuses if s not in ("equivalent", "error")]
    caught = sum(1 for s in counted if s in ("killed", "timeout"))
    return caught, len(counted), (100.0 * caught / len(counted)) if counted else 100.0


def module_section(
    module: str, outcomes: list[Outcome], unspliceable: int, known: dict[str, str], total: int
) -> str:
    caught, counted, score = _score(outcomes)
    counts = {
        s: sum(1 for o in outcomes if o.status == s)
        for s in ("killed", "timeout", "survived", "not covered", "equivalent", "error")
    }
    seconds = sum(o.seconds for o in outcomes)
    compared = ""
    if outcomes and all(o.before is not None for o in outcomes):
        was_caught, was_counted, was = _score(outcomes, before=True)
        compared = f"; with only the earlier tests: {was:.1f} % ({was_caught} of {was_counted})"
    incomplete = f" (incomplete: {len(outcomes)} of {total} mutants run)" if len(outcomes) < total else ""
    lines = [
        f"### `{module}`: {score:.1f} % ({caught} of {counted}){compared}{incomplete}",
        "",
        f"{len(outcomes)} mutants: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f"; {seconds:.0f} s of test runs"
        + (f"; {unspliceable} candidates could not be spliced back into the source" if unspliceable else ""),
        "",
    ]
    for title, status in (
        ("Surviving", "survived"),
        ("Not covered by any fast test", "not covered"),
        ("Errors (the driver could not tell)", "error"),
    ):
        rows = [o for o in outcomes if o.status == status]
        if not rows:
            continue
        lines += [f"{title}:", ""]
        for o in rows:
            lines += [f"- line {o.mutant.line} ({o.mutant.operator}): `{o.mutant.id}`", "", "  ```diff"]
            lines += ["  " + d for d in o.mutant.diff.splitlines() if not d.startswith(("---", "+++", "@@"))]
            lines += ["  ```", ""]
    rows = [o for o in outcomes if o.status == "equivalent"]
    if rows:
        lines += ["Equivalent (excluded from the score; reasons in `tests/mutation_equivalents.toml`):", ""]
        for o in rows:
            lines.append(f"- line {o.mutant.line}, `{o.mutant.id}`: {known[o.mutant.id]}")
        lines.append("")
    killed_equivalents = [o for o in outcomes if o.mutant.id in known and o.status in ("killed", "timeout")]
    if killed_equivalents:
        lines += ["Listed as equivalent but killed (remove them from the list):", ""]
        lines += [f"- `{o.mutant.id}`" for o in killed_equivalents] + [""]
    return "\n".join(lines)


BEGIN, END = "<!-- mutate:begin -->", "<!-- mutate:end -->"


def write_report(sections: dict[str, str], stale: list[str], failing: list[str]) -> None:
    """Replace the modules' sections in docs/TESTING.md, keep the others, redo the table."""
    text = REPORT.read_text() if REPORT.exists() else f"# Testing\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    existing: dict[str, str] = {}
    for chunk in re.split(r"(?m)^(?=### `)", body):
        match = re.match(r"### `([^`]+)`", chunk)
        if match:
            existing[match.group(1)] = chunk.strip()
    existing.update(sections)
    order = [m for m in configured_modules() if m in existing]
    table = ["| module | score | caught / counted | with only the earlier tests |", "|---|---|---|---|"]
    for module in order:
        found = re.match(
            r"### `[^`]+`: ([\d.]+) % \((\d+) of (\d+)\)(?:; with only the earlier tests: ([\d.]+) %)?",
            existing[module],
        )
        if found:
            was = f"{found.group(4)} %" if found.group(4) else ""
            table.append(f"| `{module}` | {found.group(1)} % | {found.group(2)} / {found.group(3)} | {was} |")
    parts = ["", *table, ""]
    if failing:
        parts += ["Tests that failed in the baseline run without any mutation (left out of this run):", ""]
        parts += [f"- `{t}`" for t in failing] + [""]
    if stale:
        parts += ["Equivalents listed that match no mutant any more (the code changed: re-check them):", ""]
        parts += [f"- `{s}`" for s in stale] + [""]
    parts += [existing[m] + "\n" for m in order]
    REPORT.write_text(head + BEGIN + "\n" + "\n".join(parts) + END + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", nargs="*", help="paths from [tool.mutate.modules] (default: all)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument(
        "--report-only", action="store_true", help="write the report from the finished mutants; run none"
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        help="also score the suite as it was at this git revision (its tests only)",
    )
    args = parser.parse_args()
    config = configured_modules()
    chosen = [m for chunk in (args.modules or []) for m in chunk.replace(",", " ").split()] or list(config)
    unknown = [m for m in chosen if m not in config]
    if unknown:
        sys.exit(
            f"not in [tool.mutate.modules] of pyproject.toml: {', '.join(unknown)}; known: {', '.join(config)}"
        )
    skip = set(mutate_config().get("skip_functions", []))
    known = equivalents()
    made: dict[str, tuple[list[Mutant], int]] = {m: cached_mutants(m, skip) for m in chosen}
    for module, (mutants, unspliceable) in made.items():
        print(f"{module}: {len(mutants)} mutants ({unspliceable} unspliceable)")
    if args.list:
        for mutants, _ in made.values():
            for m in mutants:
                print(f"{m.module}:{m.line}  {m.id}")
        return
    base = baseline(chosen)
    everything = [m for mutants, _ in made.values() for m in mutants]
    started = time.monotonic()
    older = tests_at(args.compare) if args.compare else None
    journal = STATE / f"results-{tree_digest()}{'-vs-' + args.compare if args.compare else ''}.jsonl"
    outcomes = run_mutants(everything, base, config, known, args.jobs, journal, older, not args.report_only)
    print(f"ran {len(everything)} mutants in {time.monotonic() - started:.0f} s with {args.jobs} jobs")
    sections = {}
    for module, (mutants, unspliceable) in made.items():
        mine = [o for o in outcomes if o.mutant.module == module]
        sections[module] = module_section(module, mine, unspliceable, known, len(mutants))
        caught, counted, score = _score(mine)
        print(f"{module}: {score:.1f} % ({caught} of {counted})", end="")
        if older is not None:
            was_caught, was_counted, was = _score(mine, before=True)
            print(f"; with only the earlier tests: {was:.1f} % ({was_caught} of {was_counted})", end="")
        print()
    all_ids = {m.id for mutants, _ in made.values() for m in mutants}
    stale = [i for i in known if i.split(" | ", 1)[0] in chosen and i not in all_ids]
    write_report(sections, stale, base.failing)
    print(f"report: {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
