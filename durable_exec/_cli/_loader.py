"""``PATH_OR_MODULE:HANDLER`` specs: parsing, importing, and the function names they imply."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from durable_exec._cli._errors import CliError
from durable_exec._handler import DurableHandler

__all__ = ["HandlerSpec", "function_name_for", "load_handler", "parse_function_option"]

_MODULE_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_ATTRIBUTE_RE: Final = _MODULE_RE
_NOT_IN_NAME: Final = re.compile(r"[^A-Za-z0-9_-]+")
_FUNCTION_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Files already imported, by absolute path: two specs naming one file share its module.
_MODULES: dict[Path, ModuleType] = {}


@dataclasses.dataclass(frozen=True, slots=True)
class HandlerSpec:
    """Where a handler lives: a file or an importable module, and an attribute in it.

    Attributes:
        target: An absolute ``.py`` path, or a dotted module name.
        attribute: The (dotted) attribute holding the handler.
        cwd: The directory a module name is imported from (put first on ``sys.path``).
        text: The spec as the user wrote it (for messages).
    """

    target: str
    attribute: str
    cwd: str
    text: str

    @property
    def is_path(self) -> bool:
        """Whether ``target`` is a file (rather than a module name)."""
        return self.target.endswith(".py") or "/" in self.target or "\\" in self.target

    @classmethod
    def parse(cls, text: str, cwd: Path) -> HandlerSpec:
        """Parse ``PATH_OR_MODULE:HANDLER`` (a path is made absolute against ``cwd``).

        Raises:
            CliError: The text is not of that form.
        """
        target, sep, attribute = text.rpartition(":")
        if not sep or not target or not _ATTRIBUTE_RE.fullmatch(attribute):
            raise CliError(
                f"{text!r} is not PATH_OR_MODULE:HANDLER "
                "(e.g. examples/order_processing.py:handler or my_package.workflows:handler)"
            )
        is_path = target.endswith(".py") or "/" in target or "\\" in target
        if is_path:
            target = str((cwd / target).resolve())
        elif not _MODULE_RE.fullmatch(target):
            raise CliError(f"{target!r} is neither a .py file nor a module name")
        return cls(target, attribute, str(cwd.resolve()), text)

    def to_json(self) -> dict[str, str]:
        """Return the spec as a JSON-able dict (what the store keeps for ``resume``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> HandlerSpec:
        """Rebuild a spec saved by :meth:`to_json`.

        Raises:
            CliError: The saved data is not a spec.
        """
        try:
            return cls(**{f.name: str(data[f.name]) for f in dataclasses.fields(cls)})
        except (TypeError, KeyError) as exc:
            raise CliError(f"the store holds an unreadable handler spec: {data!r}") from exc


def parse_function_option(text: str, cwd: Path) -> tuple[str, HandlerSpec]:
    """Parse a ``--function NAME=PATH_OR_MODULE:HANDLER`` value.

    Raises:
        CliError: The value is not of that form.
    """
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise CliError(
            f"--function {text!r} is not NAME=PATH_OR_MODULE:HANDLER "
            "(e.g. report-builder=examples/orchestrator.py:report_builder)"
        )
    return name, HandlerSpec.parse(spec, cwd)


def function_name_for(spec: HandlerSpec) -> str:
    """Return the Lambda function name a spec runs as locally.

    The file stem or last module component, plus ``-ATTRIBUTE`` unless the
    attribute is ``handler``: ``examples/order_processing.py:handler`` runs as
    ``order_processing``, ``examples/orchestrator.py:report_builder`` as
    ``orchestrator-report_builder``.
    """
    base = Path(spec.target).stem if spec.is_path else spec.target.rsplit(".", 1)[-1]
    name = base if spec.attribute == "handler" else f"{base}-{spec.attribute}"
    name = _NOT_IN_NAME.sub("-", name).strip("-") or "function"
    return name[:64]


def check_function_name(name: str) -> str:
    """Return ``name`` if it is a valid Lambda function name.

    Raises:
        CliError: It is not 1-64 characters of letters, digits, ``-`` and ``_``.
    """
    if not _FUNCTION_NAME_RE.fullmatch(name):
        raise CliError(f"function name {name!r} must be 1-64 letters, digits, '-' or '_'")
    return name


def _where(exc: BaseException, path: Path | None) -> str:
    """Return `` (file:line)`` for the frame of ``exc`` in ``path`` (or the last frame)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}:{exc.lineno})"
    frames = list(traceback.extract_tb(exc.__traceback__))
    if path is not None:
        mine = [f for f in frames if Path(f.filename) == path]
        frames = mine or frames
    if not frames:
        return ""
    return f" ({frames[-1].filename}:{frames[-1].lineno})"


def _import_file(path: Path, text: str) -> ModuleType:
    cached = _MODULES.get(path)
    if cached is not None:
        return cached
    if not path.is_file():
        raise CliError(f"no such file: {path} (from {text!r})")
    stem = path.stem
    name = stem if stem.isidentifier() and stem not in sys.modules else f"_durable_exec_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"cannot import {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    # Like `python path/to/file.py`: the file's own directory comes first on sys.path.
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        msg = f"importing {path} failed: {type(exc).__name__}: {exc}{_where(exc, path)}"
        raise CliError(msg) from exc
    _MODULES[path] = module
    return module


def _import_module(spec: HandlerSpec) -> ModuleType:
    if spec.cwd not in sys.path:
        sys.path.insert(0, spec.cwd)
    try:
        return importlib.import_module(spec.target)
    except ModuleNotFoundError as exc:
        if exc.name is not None and spec.target.startswith(exc.name):
            raise CliError(
                f"no module named {spec.target!r} (looked in {spec.cwd} and on sys.path)"
            ) from exc
        msg = f"importing {spec.target} failed: ModuleNotFoundError: {exc}{_where(exc, None)}"
        raise CliError(msg) from exc
    except Exception as exc:
        msg = f"importing {spec.target} failed: {type(exc).__name__}: {exc}{_where(exc, None)}"
        raise CliError(msg) from exc


def load_handler(spec: HandlerSpec, *, durable: bool) -> Any:
    """Import the spec's module and return the handler attribute.

    Args:
        spec: Where the handler lives.
        durable: Require a ``@durable_execution`` handler.

    Raises:
        CliError: The file or module cannot be imported, the attribute is
            missing, or it is not a (durable) handler.
    """
    module = _import_file(Path(spec.target), spec.text) if spec.is_path else _import_module(spec)
    value: Any = module
    for part in spec.attribute.split("."):
        if not hasattr(value, part):
            handlers = sorted(
                name for name, item in vars(module).items() if isinstance(item, DurableHandler)
            )
            known = f"; durable handlers there: {', '.join(handlers)}" if handlers else ""
            raise CliError(f"{spec.target} has no attribute {spec.attribute!r}{known}")
        value = getattr(value, part)
    if durable and not isinstance(value, DurableHandler):
        raise CliError(
            f"{spec.text} is a {type(value).__name__}, not a durable handler "
            "(decorate the function with @durable_execution)"
        )
    if not callable(value):
        raise CliError(f"{spec.text} is a {type(value).__name__}, not a handler")
    return value
