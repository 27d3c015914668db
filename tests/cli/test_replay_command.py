"""``durable-exec replay FILE --handler PATH:NAME``: recorded histories against current code."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EXAMPLES = REPO / "examples"
HISTORY = EXAMPLES / "histories" / "order_processing-o-42.json"


def test_a_history_that_matches_exits_0(cli):
    """A history recorded by the handler replays: exit 0 and a summary line."""
    done = cli(
        "replay",
        str(HISTORY),
        "--handler",
        f"{EXAMPLES}/order_processing.py:handler",
        use_store=False,
    )
    assert done.code == 0, done.err
    assert "1 of 1 histories replay" in done.out


def test_a_run_exported_with_history_json_replays(cli, tmp_path: Path):
    """`run`, then `history --json` to a file, then `replay` against the same code."""
    handler = f"{EXAMPLES}/versioned_checkout.py:handler"
    assert cli("run", handler, "--input", '{"order_id": "o-1"}', "--name", "v-1").code == 0
    exported = cli("history", "v-1", "--json")
    assert exported.code == 0, exported.err
    path = tmp_path / "v-1.json"
    path.write_text(exported.out)
    done = cli("replay", str(tmp_path), "--handler", handler, "--json", use_store=False)
    assert done.code == 0, done.err
    report = done.json()
    assert report["ok"] is True
    assert report["histories"][0]["outcome"] == "returned"


def test_a_divergent_history_exits_1_naming_the_operation(cli, tmp_path: Path):
    """Replaying against changed code prints the first divergent operation and exits 1."""
    changed = tmp_path / "changed.py"
    changed.write_text(
        "from durable_exec import durable_execution\n"
        "@durable_execution\n"
        "def handler(event, context):\n"
        "    return context.step(lambda _: 1, name='reserve')\n"
    )
    done = cli("replay", str(HISTORY), "--handler", f"{changed}:handler", use_store=False)
    assert done.code == 1
    assert "expected STEP (Step) 'reserve_stock', actual STEP (Step) 'reserve'" in done.out
    assert "position 1 of the root context" in done.out


def test_an_unreadable_file_exits_2(cli, tmp_path: Path):
    """A file that is not a history is an input error."""
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    done = cli(
        "replay", str(bad), "--handler", f"{EXAMPLES}/order_processing.py:handler", use_store=False
    )
    assert done.code == 2
    assert "bad.json" in done.err
