"""Argument parsing, dispatch, and the one place errors become exit codes.

Every problem the user can fix surfaces as :class:`CliError`: one line on
stderr (``durable-exec: error: ...``), exit code 2 unless it says otherwise,
never a traceback. argparse's own errors take the same path.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from durable_exec._cli._errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError
from durable_exec._version import __version__

__all__ = ["build_parser", "main"]

PROG = "durable-exec"
DEBUG_ENV = "DURABLE_EXEC_DEBUG"

_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "PAUSED")

_EPILOG = """\
exit codes: 0 succeeded, 1 failed/timed out/stopped, 2 usage or input error,
3 still waiting (for a callback, or detached)

Executions are stored in ./.durable/executions.db (--store or $DURABLE_EXEC_STORE).
See docs/cli.md for examples.
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line :class:`CliError`s."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see {self.prog} --help)")


def _store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="the SQLite store of local executions "
        "(default: $DURABLE_EXEC_STORE or ./.durable/executions.db)",
    )


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def _remote(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote (instead of the local store)")
    group.add_argument("--endpoint", metavar="URL", help="any endpoint that speaks the Lambda API")
    group.add_argument("--region", help="talk to AWS Lambda in REGION (default credential chain)")


def _function_name(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--function-name", metavar="NAME", help=help_text)


def _drive_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--expire-callbacks",
        action="store_true",
        help="let unanswered callbacks time out instead of stopping to wait for an answer",
    )
    parser.add_argument(
        "--all", action="store_true", help="show every operation (long lists are summarised)"
    )
    parser.add_argument(
        "--timeline", action="store_true", help="also draw the timeline of the operations"
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the ``durable-exec`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Run durable Lambda functions locally, and inspect executions anywhere.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run a workflow to completion on the embedded local service",
        description="Start an execution of a durable handler and drive it on the embedded "
        "local service (virtual time: waits and retry delays pass at once).",
    )
    run.add_argument("handler", metavar="PATH_OR_MODULE:HANDLER")
    run.add_argument("--input", metavar="JSON", help="the execution's input ('-' reads stdin)")
    run.add_argument("--name", metavar="EXEC_NAME", help="the execution name (unique per function)")
    run.add_argument(
        "--function",
        action="append",
        metavar="NAME=PATH:HANDLER",
        help="register a chained-invoke target (durable or plain); repeatable",
    )
    _function_name(run, "the function name to run as (default: from the handler path)")
    run.add_argument(
        "--real-time", action="store_true", help="use the system clock and really wait"
    )
    run.add_argument(
        "--detach", action="store_true", help="start the execution and return at once (exit 3)"
    )
    run.add_argument(
        "--timeout", type=int, metavar="SECONDS", help="the execution timeout (default: a year)"
    )
    _drive_options(run)
    _store(run)
    _json(run)

    resume = commands.add_parser(
        "resume",
        help="drive a stored execution further (e.g. after answering a callback)",
        description="Continue a local execution started by `run`, from any process.",
    )
    resume.add_argument("execution", metavar="EXECUTION", help="ARN, name or unique prefix")
    resume.add_argument(
        "--real-time", action="store_true", help="use the system clock and really wait"
    )
    _drive_options(resume)
    _store(resume)
    _json(resume)

    listing = commands.add_parser("list", help="list executions")
    listing.add_argument("--status", type=str.upper, choices=_STATUSES, help="only this status")
    _function_name(listing, "only this function (required with --endpoint/--region)")
    _store(listing)
    _remote(listing)
    _json(listing)

    show = commands.add_parser("show", help="show an execution as a tree (and a timeline)")
    show.add_argument("execution", metavar="EXECUTION", help="ARN, name or unique prefix")
    show.add_argument("--timeline", action="store_true", help="also draw the timeline")
    show.add_argument("--all", action="store_true", help="show every operation")
    _function_name(show, "look the name up in this function (needed remotely)")
    _store(show)
    _remote(show)
    _json(show)

    history = commands.add_parser("history", help="print an execution's raw history events")
    history.add_argument("execution", metavar="EXECUTION", help="ARN, name or unique prefix")
    _function_name(history, "look the name up in this function (needed remotely)")
    _store(history)
    _remote(history)
    _json(history)

    callback = commands.add_parser(
        "callback",
        help="answer a callback: succeed, fail or heartbeat",
        description="Complete a callback a workflow waits for. The PAYLOAD of `succeed` is "
        "sent as it is (the handler's serdes decodes it); the one of `fail` is the error "
        "message. '-' reads it from stdin.",
    )
    callback.add_argument("action", choices=("succeed", "fail", "heartbeat"))
    callback.add_argument("callback_id", metavar="CALLBACK_ID")
    callback.add_argument("payload", metavar="PAYLOAD", nargs="?")
    callback.add_argument(
        "--error-type", default="CallbackFailed", metavar="TYPE", help="ErrorType of `fail`"
    )
    callback.add_argument("--error-data", metavar="DATA", help="ErrorData of `fail`")
    _store(callback)
    _remote(callback)
    _json(callback)
    return parser


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``durable-exec`` command line; return the exit code.

    Args:
        argv: The arguments (``sys.argv[1:]`` by default).

    Returns:
        0 succeeded, 1 the execution failed/timed out/stopped, 2 usage or input
        error, 3 still waiting (a callback, or detached), 130 interrupted.
    """
    from durable_exec._cli._commands import COMMANDS

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted (the store is consistent; `resume` continues)", EXIT_INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`durable-exec list | head`): nothing more to say.
        sys.stderr.close()
        return EXIT_USAGE
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for a traceback)"
        )
