"""Argument parsing, dispatch, and the one place errors become exit codes.

Every problem the user can fix surfaces as :class:`CliError`: one line on
stderr (``durable-exec: error: ...``), exit code 2 unless it says otherwise,
never a traceback. argparse's own errors take the same path.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

from durable_exec._cli._errors import (
    EXIT_INTERRUPTED,
    EXIT_SUCCEEDED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CliError,
)
from durable_exec._version import __version__

__all__ = ["build_parser", "main"]

PROG = "durable-exec"
DEBUG_ENV = "DURABLE_EXEC_DEBUG"

_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "PAUSED")

_EPILOG = """\
exit codes: 0 succeeded, 1 failed/timed out/stopped, 2 usage or input error,
3 still waiting (for a callback, or detached)

Executions are stored in the nearest .durable/executions.db, found walking up from the
current directory as git finds .git/ (created here by `run` if there is none);
--store PATH or $DURABLE_EXEC_STORE choose another. `durable-exec info` shows which.
See docs/cli.md for examples.
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line :class:`CliError`s."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see {self.prog} --help)")


# The options several commands share, accepted before the command too
# (``durable-exec --store PATH list``). Both places default to SUPPRESS, so an
# option given after the command wins over the same one given before it, and
# the command's own defaults are filled in once parsing is done.
_SHARED: dict[str, tuple[str, Any]] = {  # dest: (flag, default)
    "store": ("--store", None),
    "json": ("--json", False),
    "endpoint": ("--endpoint", None),
    "region": ("--region", None),
    "verbose": ("-v/--verbose", 0),
    "log_level": ("--log-level", None),
}


class _MainParser(_Parser):
    """The top-level parser: shared options before the command, checked against it."""

    commands: argparse._SubParsersAction[_Parser] | None = None
    _argv: Sequence[str] = ()

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._argv = list(sys.argv[1:] if args is None else args)
        parsed, extras = super().parse_known_args(self._argv, namespace)
        command = getattr(parsed, "command", None)
        if command is not None and self.commands is not None:
            _check_shared(self.commands.choices[command], command, parsed)
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        option_first = bool(self._argv) and self._argv[0].startswith("-")
        if option_first and message.startswith("argument COMMAND: invalid choice"):
            raise CliError(
                f"{message}; only --store, --json, --endpoint, --region, -v and "
                f"--log-level may come before the command, its other options go after "
                f"it: {self.prog} COMMAND [OPTIONS] (see {self.prog} --help)"
            )
        super().error(message)


def _check_shared(
    command_parser: argparse.ArgumentParser, command: str, parsed: argparse.Namespace
) -> None:
    """Refuse a shared option the command does not take; fill in the defaults."""
    for dest, (flag, default) in _SHARED.items():
        accepted = command_parser.get_default(dest) == argparse.SUPPRESS
        if hasattr(parsed, dest) and not accepted:
            raise CliError(f"{flag} does not apply to `{command}` (see {PROG} {command} --help)")
        if not hasattr(parsed, dest):
            setattr(parsed, dest, default)


class _Container(Protocol):
    """An argument parser or one of its groups."""

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        """Add an option (as :meth:`argparse.ArgumentParser.add_argument`)."""
        ...


def _store(parser: _Container) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the SQLite store of local executions (default: $DURABLE_EXEC_STORE, else the "
        "nearest .durable/executions.db walking up from here)",
    )


def _json(parser: _Container) -> None:
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print machine-readable JSON"
    )


def _remote(parser: _Container) -> None:
    group: _Container = parser
    if isinstance(parser, argparse.ArgumentParser):
        group = parser.add_argument_group("remote (instead of the local store)")
    group.add_argument(
        "--endpoint",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="any endpoint that speaks the Lambda API",
    )
    group.add_argument(
        "--region",
        default=argparse.SUPPRESS,
        help="talk to AWS Lambda in REGION (default credential chain)",
    )


def _function_name(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--function-name", metavar="NAME", help=help_text)


def _logging_options(parser: _Container) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="show log records (context.logger ...) on stderr: -v INFO, -vv DEBUG",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        default=argparse.SUPPRESS,
        help="show log records at this level and above on stderr",
    )


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
    parser = _MainParser(
        prog=PROG,
        description="Run durable Lambda functions locally, and inspect executions anywhere.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    shared = parser.add_argument_group(
        "options shared by several commands (before or after the command; after wins)"
    )
    _store(shared)
    _json(shared)
    _remote(shared)
    _logging_options(shared)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    parser.commands = commands

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
    _logging_options(run)
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
    _logging_options(resume)
    _store(resume)
    _json(resume)

    listing = commands.add_parser("list", help="list executions, newest first")
    listing.add_argument("--status", type=str.upper, choices=_STATUSES, help="only this status")
    _function_name(listing, "only this function (required with --endpoint/--region)")
    listing.add_argument(
        "--search", metavar="TEXT", help="only executions whose name, function or ARN has TEXT"
    )
    listing.add_argument(
        "--limit",
        type=_page_size,
        default=50,
        metavar="N",
        help="at most N executions (1-1000, default 50)",
    )
    listing.add_argument(
        "--cursor", metavar="CURSOR", help="the next page (printed when there are more)"
    )
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
    callback.add_argument(
        "callback_id",
        metavar="CALLBACK",
        help="the callback id, or EXECUTION/CALLBACK-NAME (e.g. approve-1/manager-approval)",
    )
    callback.add_argument("payload", metavar="PAYLOAD", nargs="?")
    callback.add_argument(
        "--error-type", default="CallbackFailed", metavar="TYPE", help="ErrorType of `fail`"
    )
    callback.add_argument("--error-data", metavar="DATA", help="ErrorData of `fail`")
    _store(callback)
    _remote(callback)
    _json(callback)

    _ui_parser(commands)

    info = commands.add_parser(
        "info",
        help="show the store in use (and how it was found), what it holds, and versions",
    )
    _store(info)
    _json(info)

    from durable_exec._cli._replay import add_replay_parser

    _json(add_replay_parser(commands))
    _migrate_parser(commands)
    return parser


def _migrate_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    """Register ``migrate`` (its module, the codemod, loads only when it runs)."""
    parser = commands.add_parser(
        "migrate",
        help="rewrite imports of the official SDK and its testing package to durable_exec",
        description="Rewrite the imports of code written for the official SDK "
        "(aws_durable_execution_sdk_python -> durable_exec, "
        "aws_durable_execution_sdk_python_testing -> durable_exec.testing) in every .py "
        "file under each PATH, in place, after printing the diff. Strings naming the old "
        "packages (patch targets, requirements), their names in pyproject.toml, setup.cfg, "
        "tox.ini, Pipfile and requirements*.txt, and imported names durable_exec lacks are "
        "reported with what to do. See docs/migrating.md.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="a .py file, a configuration file or a directory"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="print the diffs but write nothing; exit 1 if any file would change (for CI)",
    )


def _ui_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    from durable_exec._cli._ui import DEFAULT_PORT

    ui = commands.add_parser(
        "ui",
        help="serve a local web console over the store (executions, timelines, callbacks)",
        description="Serve a web console over the store: browse executions, see an "
        "execution's operation tree and timeline, answer its callbacks and resume it. "
        "It listens on 127.0.0.1 and prints an address with a session token; open that.",
    )
    ui.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"the port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    ui.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address to listen on (default 127.0.0.1; anything else is reachable "
        "from other machines, and a warning says so)",
    )
    ui.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="another name browsers may use to reach it (the Host header is checked "
        "against DNS rebinding); repeatable",
    )
    ui.add_argument("--open", action="store_true", help="open it in the default browser")
    ui.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log every request on stderr",
    )
    _store(ui)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return value


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return value


def _fail(message: str, code: int = EXIT_USAGE, *, kind: str, as_json: bool) -> int:
    from durable_exec._cli._commands import out
    from durable_exec._cli._render import clean, to_json

    if as_json:
        out(to_json({"error": {"code": kind, "message": message, "exit_code": code}}))
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"{PROG}: error: {clean(message)}\n")
        sys.stderr.flush()
    return code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the run ends as Ctrl-C does."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated


def _threads_left() -> bool:
    """Whether threads other than this one (a handler's workers, say) still run."""
    import threading

    return any(
        t is not threading.current_thread() and not t.daemon and t.is_alive()
        for t in threading.enumerate()
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``durable-exec`` command line; return the exit code.

    Args:
        argv: The arguments (``sys.argv[1:]`` by default).

    Returns:
        0 succeeded, 1 the execution failed/timed out/stopped, 2 usage or input
        error, 3 still waiting (a callback, or detached, or another process runs
        it), 130 interrupted (143 for SIGTERM).
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in arguments
    parser = build_parser()
    previous = None
    if threading_is_main():
        with contextlib.suppress(ValueError, OSError):
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = parser.parse_args(arguments)
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        # After parsing: --help, --version and usage errors load no command module.
        from durable_exec._cli._commands import COMMANDS

        return COMMANDS[args.command](args)
    except CliError as exc:
        return _fail(str(exc), exc.exit_code, kind=exc.kind, as_json=as_json)
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        result = _fail(
            f"{what}; the store is consistent: `durable-exec resume` retries the invocation "
            "that was running",
            code,
            kind="interrupted",
            as_json=as_json,
        )
        if _threads_left():
            # A handler's worker threads may still be inside a step: do not wait for them.
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(result)
        return result
    except BrokenPipeError:
        # The reader went away (`durable-exec list | head`): nothing more to say.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return EXIT_SUCCEEDED
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for a traceback)",
            EXIT_USAGE,
            kind="internal_error",
            as_json=as_json,
        )
    finally:
        if previous is not None:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signal.SIGTERM, previous)


def threading_is_main() -> bool:
    """Whether this is the main thread (the only one that may set signal handlers)."""
    import threading

    return threading.current_thread() is threading.main_thread()
