"""``durable-exec replay FILE... --handler PATH:NAME``: recorded histories against current code.

Each FILE (or each ``*.json`` in a directory) is a recorded history: the output
of ``durable-exec history --json``, a ``GetDurableExecutionHistory`` response, or
any shape :func:`durable_exec.testing.replay_history` reads. Exit code 0 when
every history replays, 1 when one diverges (the first divergent operation is
printed), 2 when a file or the handler cannot be read.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from durable_exec._cli._errors import EXIT_FAILED, EXIT_SUCCEEDED, CliError

__all__ = ["add_replay_parser", "replay"]


def add_replay_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``replay`` sub-command on ``commands`` (argparse sub-parsers).

    Returns:
        Its parser (the caller adds the options commands share, ``--json``).
    """
    parser = commands.add_parser(
        "replay",
        help="replay recorded histories against the current code (determinism check)",
        description="Replay recorded histories against the current code of a handler, "
        "without running any step. Fails on the first operation where code and history "
        "diverge, naming expected and actual type, name and position.",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a history (JSON), or a directory of them (*.json)",
    )
    parser.add_argument(
        "--handler",
        required=True,
        metavar="PATH_OR_MODULE:HANDLER",
        help="the durable handler to check (e.g. examples/order_processing.py:handler)",
    )
    return parser  # type: ignore[no-any-return]


def _files(names: list[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise CliError(f"{name} holds no *.json history")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(f"{name}: no such file or directory")
    return files


def replay(args: argparse.Namespace) -> int:
    """Replay every history; return 0 if all match the code, 1 if one diverges."""
    from durable_exec._cli._commands import out
    from durable_exec._cli._loader import HandlerSpec, load_handler
    from durable_exec._cli._render import clean, to_json
    from durable_exec._errors import NonDeterministicExecutionError, ValidationError
    from durable_exec.testing import replay_history

    files = _files(args.files)
    handler = load_handler(HandlerSpec.parse(args.handler, Path.cwd()), durable=True)
    reports: list[dict[str, Any]] = []
    failed = False
    for path in files:
        try:
            result = replay_history(handler, path)
        except NonDeterministicExecutionError as error:
            failed = True
            reports.append({"file": str(path), "ok": False, "divergence": str(error)})
            continue
        except ValidationError as error:
            raise CliError(f"{path}: {error}") from error
        reports.append(
            {
                "file": str(path),
                "ok": True,
                "outcome": result.outcome,
                "operations_replayed": result.operations_replayed,
            }
        )
    if args.json:
        out(to_json({"handler": args.handler, "histories": reports, "ok": not failed}))
    else:
        for report in reports:
            if report["ok"]:
                out(
                    f"✓ {report['file']}: replays ({report['outcome']}, "
                    f"{report['operations_replayed']} operations)"
                )
            else:
                out(f"✗ {clean(report['divergence'])}")
        good = sum(1 for r in reports if r["ok"])
        out(f"{good} of {len(reports)} histories replay on {args.handler}")
    return EXIT_FAILED if failed else EXIT_SUCCEEDED
