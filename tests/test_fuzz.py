"""The schema-driven fuzz (bench/fuzz.py), with a fixed seed and a few hundred cases:
any 5xx, undocumented status or body, valid request refused or invalid one accepted
fails the suite. `make fuzz` runs it longer with a random seed."""

from __future__ import annotations

from bench.fuzz import fuzz

SEED = 20261125


def test_a_schema_driven_fuzz_finds_nothing_wrong() -> None:
    result = fuzz(SEED, max_examples=8)
    assert result.generated >= 200, result.output[-3000:]
    assert result.exit_code == 0, result.output[-6000:]
    assert result.failures == 0
