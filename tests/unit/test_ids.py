"""Operation ids: the official SDK's blake2b scheme, pure and thread-safe."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec._ids import IdSequence, operation_id

ROOT_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
ROOT_3 = "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"
CHILD_0 = "1712f93e2f51df042e2b933907d75accfe34a48fe4a42a24e0b08131bc72d591"
GRANDCHILD = "9d8bc609108ec7b3600d6cceec22d18553e3e1ec52a3568cb251464a3d39d24f"

# official_wire.md section 1 (verified vectors) and values computed by the official
# SDK's OperationIdNamespace.create_id_for_step.
GOLDEN = [
    (None, 1, ROOT_1),
    (None, 2, "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"),
    (None, 3, ROOT_3),
    (None, 4, "e8e70dc170e14333627b32c20ac6051fb9b6bd369c036afbaca2d9cd7ac3de65"),
    (None, 5, "73776e3e4cd3684316d26ec93cc6c438497ace5b08e359698667af6dbded88b6"),
    (None, 10, "f2e74cbc3eff574bbc45333c30edb947858543afda4cafdde2903324c9de0bd9"),
    (ROOT_1, 0, CHILD_0),
    (ROOT_1, 1, "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"),
    (ROOT_1, 2, GRANDCHILD),
    (GRANDCHILD, 1, "37cbbc01dcd6727adc4eef936e9ffa2472f5c0103430950d339c1d8020e019f7"),
    # the step inside map item 0 (probe p3)
    (CHILD_0, 1, "48550629202cb2d0e1bd4f07d826361bbd2defa71565264c01647fc2da0e9b1e"),
    # wait_for_callback's callback and submitter inside its context (probe p8)
    (ROOT_3, 1, "4fcce65ec00309c63e7973cc7ba98d082f6db23ff491f8ae0d358d94a449573f"),
    (ROOT_3, 2, "5430c3612b2dbf51c497ea3272514f5540f0d18e8e5f4c6e5f52a8080385df6b"),
    # the step inside a FLAT map branch (probe p3): blake2b(blake2b("6f76...-0") + "-1")
    (
        operation_id(ROOT_3, 0),
        1,
        "8ca92aecc8656af9d6eabcef467216e8dc899889f5941402df1335bb7b69397a",
    ),
]

HEX_64 = re.compile(r"[0-9a-f]{64}")
prefixes = st.none() | st.from_regex(HEX_64, fullmatch=True)
positions = st.integers(min_value=0, max_value=10**9)


class TestOperationId:
    @pytest.mark.parametrize(("prefix", "position", "expected"), GOLDEN)
    def test_matches_the_official_sdk(self, prefix, position, expected):
        """Ids equal the official SDK's for the same prefix and position."""
        assert operation_id(prefix, position) == expected

    def test_empty_prefix_is_the_root(self):
        """An empty prefix numbers operations like the root context, as the official SDK does."""
        assert operation_id("", 1) == ROOT_1

    @given(prefix=prefixes, position=positions)
    def test_ids_are_64_lowercase_hex(self, prefix, position):
        """Every id is 64 lowercase hex characters (the API's OperationId allows up to 64)."""
        assert HEX_64.fullmatch(operation_id(prefix, position))

    def test_ids_do_not_depend_on_the_process(self):
        """Another process (another string-hash seed) derives the same ids, as replay needs."""
        cases = [(None, 1), ("", 7), (ROOT_1, 0), ("ctx-é", 123456)]
        script = (
            "import json, sys; from durable_exec._ids import operation_id; "
            "print(json.dumps([operation_id(p, n) for p, n in json.loads(sys.argv[1])]))"
        )
        for seed in ("1", "2"):
            done = subprocess.run(
                [sys.executable, "-c", script, json.dumps(cases)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONHASHSEED": seed},
            )
            assert json.loads(done.stdout) == [operation_id(p, n) for p, n in cases]

    @given(first=st.tuples(prefixes, positions), second=st.tuples(prefixes, positions))
    def test_distinct_positions_get_distinct_ids(self, first, second):
        """Different (prefix, position) pairs get different ids."""
        if first != second:
            assert operation_id(*first) != operation_id(*second)

    @given(prefix=prefixes, positions=st.lists(positions, min_size=2, max_size=50, unique=True))
    def test_siblings_never_collide(self, prefix, positions):
        """All positions within one context get pairwise distinct ids."""
        ids = [operation_id(prefix, n) for n in positions]
        assert len(set(ids)) == len(ids)


class TestIdSequence:
    def test_counts_from_one(self):
        """The first id is position 1, then 2, 3, ..."""
        sequence = IdSequence(None)
        assert [sequence.next() for _ in range(3)] == [operation_id(None, n) for n in (1, 2, 3)]

    def test_uses_its_prefix(self):
        """A child context's sequence numbers under its own operation id."""
        sequence = IdSequence(ROOT_1)
        assert sequence.prefix == ROOT_1
        assert sequence.next() == operation_id(ROOT_1, 1)

    def test_peek_does_not_consume(self):
        """peek() shows the next id without allocating it."""
        sequence = IdSequence(None)
        assert sequence.peek() == sequence.peek() == ROOT_1
        assert sequence.next() == ROOT_1
        assert sequence.peek() == operation_id(None, 2)

    def test_is_thread_safe(self):
        """Concurrent callers get every position exactly once."""
        sequence = IdSequence(ROOT_1)
        threads_count, per_thread = 8, 250
        results: list[list[str]] = [[] for _ in range(threads_count)]
        start = threading.Barrier(threads_count)

        def allocate(out: list[str]) -> None:
            start.wait()
            out.extend(sequence.next() for _ in range(per_thread))

        threads = [threading.Thread(target=allocate, args=(out,)) for out in results]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        allocated = [i for out in results for i in out]
        expected = {operation_id(ROOT_1, n) for n in range(1, threads_count * per_thread + 1)}
        assert len(allocated) == len(expected)
        assert set(allocated) == expected
