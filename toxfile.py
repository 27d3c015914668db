"""This project's tox plugin: find pyenv-installed interpreters with no environment variable.

``tox run-parallel`` needs python3.11, python3.12 and python3.13. Under pyenv
those names on PATH are shims, which fail unless ``PYENV_VERSION`` names the
version, so tox found no interpreter ("could not find python interpreter
matching ... py312"). This plugin appends each pyenv version's own ``bin``
directory (``$PYENV_ROOT/versions/*/bin``, ``~/.pyenv`` by default) to PATH
when tox starts, so discovery finds the real interpreters behind the shims.
Nothing else changes: PATH keeps its order (a Python found before still wins),
and with ``skip_missing_interpreters = false`` a version that is really missing
still fails the run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tox.plugin import impl


def pyenv_bin_directories(environ: dict[str, str] | None = None) -> list[str]:
    """Return the ``bin`` directories of every pyenv-installed Python, newest version first."""
    env = os.environ if environ is None else environ
    root = Path(env.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = root / "versions"
    if not versions.is_dir():
        return []
    found = [path / "bin" for path in versions.iterdir() if (path / "bin").is_dir()]
    return [str(path) for path in sorted(found, reverse=True)]


@impl
def tox_add_core_config(core_conf: Any, state: Any) -> None:  # noqa: ARG001 - tox's signature
    """Append pyenv's interpreters to PATH before tox looks for any interpreter."""
    current = os.environ.get("PATH", "").split(os.pathsep)
    extra = [path for path in pyenv_bin_directories() if path not in current]
    if extra:
        os.environ["PATH"] = os.pathsep.join([*current, *extra])
