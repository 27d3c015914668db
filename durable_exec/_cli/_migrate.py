"""``durable-exec migrate PATH...``: move code from the official SDK to durable_exec.

Migrating is two prefix swaps in the code's imports (and in dotted references
to the modules they import):

* ``aws_durable_execution_sdk_python_testing`` becomes ``durable_exec.testing``;
* ``aws_durable_execution_sdk_python`` becomes ``durable_exec``.

Every ``.py`` file under each PATH is rewritten in place after its unified diff
is printed; ``--check`` prints the diffs, writes nothing and exits 1 when a file
would change (for CI). Strings that name the old packages (``mock.patch``
targets, ``importlib`` arguments, requirements) are reported with what to write
instead, not changed; so are the official package names in dependency and tool
configuration files (``pyproject.toml``, ``setup.cfg``, ``tox.ini``, ``Pipfile``,
``requirements*.txt``), and imported names durable_exec does not have
(docs/migrating.md says why each is left out).
Exit codes: 0 done (or nothing to do), 1 ``--check`` found files to change,
2 a PATH or file could not be read.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import importlib
import io
import re
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from durable_exec._cli._errors import EXIT_FAILED, EXIT_SUCCEEDED, EXIT_USAGE, CliError

__all__ = ["Rewrite", "config_notes", "migrate", "rewrite_source"]

PREFIXES = (
    ("aws_durable_execution_sdk_python_testing", "durable_exec.testing"),
    ("aws_durable_execution_sdk_python", "durable_exec"),
)
"""Old package → new module path, longest first."""
_SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".tox", ".nox", ".venv", "venv", "__pycache__", "node_modules"}
)


@dataclasses.dataclass
class Rewrite:
    """What migrating one source text gives.

    Attributes:
        text: The migrated source.
        notes: Things to look at by hand, as ``(line, message)``.
    """

    text: str
    notes: list[tuple[int, str]]


def _new_name(name: str) -> str | None:
    for old, new in PREFIXES:
        if name == old:
            return new
    return None


_DISTRIBUTION = re.compile(
    r"(?<![\w.-])aws[-_.]durable[-_.]execution[-_.]sdk[-_.]python(?P<testing>[-_.]testing)?(?![\w-])",
    re.IGNORECASE,
)
"""The official distributions' names, in any of the spellings packaging tools accept."""
_REQUIREMENT = re.compile(r"\s*(?P<name>[\w.-]+)\s*(\[[^\]]*\])?\s*([<>=!~;@].*)?", re.DOTALL)
_DEPENDENCY_ADVICE = {
    False: "as a dependency write durable-exec; as a module name, durable_exec",
    True: "as a dependency drop it (durable-exec includes durable_exec.testing); as a module "
    "name write durable_exec.testing",
}


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module of durable_exec, or an attribute reached from one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


def _string_note(literal: str) -> str | None:
    """Say what to do about a string literal naming the official packages, if it does."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(value, str):
        return None
    if not any(c.isspace() for c in value):
        for old, new in PREFIXES:
            if value == old or value.startswith(old + "."):
                target = new + value[len(old) :]
                if _resolves(target):
                    return (
                        f"the string {value!r} names the official SDK and is left unchanged: "
                        f"if it names code that now runs on durable_exec, write {target!r}"
                    )
                return (
                    f"the string {value!r} names part of the official SDK that durable_exec "
                    f"does not have ({target} does not exist), so it is left unchanged: "
                    "rewrite this code against durable_exec's API; a mock.patch of the "
                    "official internals is usually replaced by running the handler under "
                    "durable_exec.testing, or by @durable_execution(boto3_client=...) with a "
                    "stubbed client (docs/migrating.md lists what is left out and why)"
                )
    requirement = _REQUIREMENT.fullmatch(value)
    if requirement:
        found = _DISTRIBUTION.fullmatch(requirement["name"])
        if found:
            return (
                f"the string {value!r} names the official package {found[0]}, left unchanged: "
                + _DEPENDENCY_ADVICE[bool(found["testing"])]
            )
    return None


def config_notes(text: str) -> list[tuple[int, str]]:
    """Name the official packages' occurrences in a configuration file, with what to do.

    Comment lines (``#`` or ``;`` first) are skipped. Nothing is rewritten: a
    requirement, a coverage source or a tool setting needs a decision only its
    owner can make.
    """
    notes: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(("#", ";")):
            continue
        notes.extend(
            (
                number,
                f"{found[0]} is the official package, left unchanged: "
                + _DEPENDENCY_ADVICE[bool(found["testing"])],
            )
            for found in _DISTRIBUTION.finditer(line)
        )
    return notes


def rewrite_source(source: str) -> Rewrite:
    """Migrate one module's source text.

    Names are replaced where a dotted path starts with one of the old packages:
    in ``import``/``from`` statements and in code (``aws_durable_execution_sdk_python.config.X``),
    never in strings or comments. A string that is such a dotted path (a
    ``mock.patch`` target, an ``importlib`` argument) is reported instead.

    Raises:
        tokenize.TokenError: ``source`` cannot be tokenised (unterminated brackets...).
        SyntaxError: Likewise (bad indentation).
    """
    lines = io.StringIO(source).readlines()  # the lines tokenize numbers
    edits: list[tuple[int, int, int, str]] = []  # (row, start col, end col, new text)
    notes: list[tuple[int, str]] = []
    previous: tokenize.TokenInfo | None = None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME:
            new = _new_name(token.string)
            after_dot = (
                previous is not None and previous.type == tokenize.OP and previous.string == "."
            )
            if new is not None and not after_dot:
                (row, start), (_, end) = token.start, token.end
                edits.append((row, start, end, new))
        elif token.type == tokenize.STRING:
            note = _string_note(token.string)
            if note:
                notes.append((token.start[0], note))
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = token
    for row, start, end, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    text = "".join(lines)
    notes.extend(_missing_names(text))
    return Rewrite(text, sorted(notes))


def _missing_names(source: str) -> Iterator[tuple[int, str]]:
    """Report ``from durable_exec... import NAME`` lines whose NAME durable_exec lacks."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        modules: list[tuple[str, list[str]]] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            modules.extend((alias.name, []) for alias in node.names)
        else:
            continue
        for module_name, names in modules:
            if module_name != "durable_exec" and not module_name.startswith("durable_exec."):
                continue
            try:
                module: Any = importlib.import_module(module_name)
            except ImportError:
                message = f"durable_exec has no module {module_name} (see docs/migrating.md)"
                yield node.lineno, message
                continue
            for name in names:
                if name != "*" and not hasattr(module, name):
                    yield node.lineno, f"{module_name} has no {name} (see docs/migrating.md)"


_CONFIG_NAMES = frozenset({"pyproject.toml", "setup.cfg", "tox.ini", "Pipfile"})


def _is_config(path: Path) -> bool:
    """Dependency and tool configuration files (scanned and reported, never rewritten)."""
    return path.name in _CONFIG_NAMES or (
        path.suffix in (".txt", ".in") and path.name.startswith(("requirements", "constraints"))
    )


def _files(paths: list[str]) -> tuple[list[Path], list[Path]]:
    """The Python files and the configuration files under ``paths``."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if (p.suffix == ".py" or _is_config(p))
                    and p.is_file()
                    and not any(part in _SKIPPED_DIRS for part in p.relative_to(path).parts)
                )
            )
        else:
            raise CliError(f"{name}: no such file or directory")
    return [p for p in found if not _is_config(p)], [p for p in found if _is_config(p)]


def _read(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    return raw.decode(encoding), encoding


def migrate(args: argparse.Namespace) -> int:
    """Migrate (or, with ``--check``, only diff) every file; return the exit code."""
    from durable_exec._cli._commands import out

    files, configs = _files(args.paths)
    changed = 0
    unreadable = 0
    for path in configs:
        try:
            text, _ = _read(path)
        except (OSError, UnicodeDecodeError, SyntaxError) as error:
            unreadable += 1
            sys.stderr.write(f"durable-exec: {path}: cannot read it: {error}\n")
            continue
        for line, note in config_notes(text):
            sys.stderr.write(f"{path}:{line}: {note}\n")
    for path in files:
        try:
            source, encoding = _read(path)
            result = rewrite_source(source)
        except (OSError, UnicodeDecodeError, SyntaxError, tokenize.TokenError) as error:
            unreadable += 1
            sys.stderr.write(f"durable-exec: {path}: cannot read it as Python: {error}\n")
            continue
        for line, note in result.notes:
            sys.stderr.write(f"{path}:{line}: {note}\n")
        if result.text == source:
            continue
        changed += 1
        diff = difflib.unified_diff(
            source.splitlines(keepends=True),
            result.text.splitlines(keepends=True),
            fromfile=str(path) if path.is_absolute() else f"a/{path}",
            tofile=str(path) if path.is_absolute() else f"b/{path}",
        )
        out("".join(diff).rstrip("\n"))
        if not args.check:
            with path.open("w", encoding=encoding, newline="") as handle:
                handle.write(result.text)
    verb = "would change" if args.check else "changed"
    out(f"{changed} of {len(files)} files {verb}")
    if unreadable:
        return EXIT_USAGE
    if args.check and changed:
        return EXIT_FAILED
    return EXIT_SUCCEEDED
