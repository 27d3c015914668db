"""The README's `tox run-parallel` finds pyenv's interpreters without PYENV_VERSION (toxfile.py)."""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _another_interpreter() -> tuple[str, Path] | None:
    """(version, executable) of an installed Python other than this one (discovery prefers this)."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    for directory in sorted(root.glob("3.*")) if root.is_dir() else []:
        version = ".".join(directory.name.split(".")[:2])
        executable = directory / "bin" / f"python{version}"
        recent = tuple(map(int, version.split("."))) >= (3, 8)
        if version != mine and recent and executable.exists():
            return version, executable
    return None


OTHER = _another_interpreter()
pytestmark = pytest.mark.skipif(OTHER is None, reason="needs a second pyenv-installed Python")
VERSION = OTHER[0] if OTHER else ""

python_discovery = pytest.importorskip("python_discovery")
pytest.importorskip("tox")


def _toxfile():
    spec = importlib.util.spec_from_file_location("_toxfile", ROOT / "toxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pyenv(tmp_path: Path) -> dict[str, str]:
    """A pyenv layout: a failing shim on PATH, the real interpreter under versions/."""
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / f"python{VERSION}"
    shim.write_text(f"#!/bin/sh\necho 'pyenv: python{VERSION}: command not found' >&2\nexit 127\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    real = tmp_path / "root" / "versions" / f"{VERSION}.99" / "bin"
    real.mkdir(parents=True)
    assert OTHER is not None
    (real / f"python{VERSION}").symlink_to(OTHER[1])
    return {"PATH": str(shims), "PYENV_ROOT": str(tmp_path / "root"), "HOME": str(tmp_path)}


def test_without_the_plugin_the_shim_hides_the_interpreter(pyenv):
    """The defect: behind a pyenv shim, discovery finds nothing."""
    assert python_discovery.get_interpreter(VERSION, env=pyenv) is None


def test_the_plugin_puts_pyenv_versions_on_path(pyenv, monkeypatch):
    """After tox's core config hook, the same discovery finds the pyenv interpreter."""
    for key, value in pyenv.items():
        monkeypatch.setenv(key, value)
    _toxfile().tox_add_core_config(None, None)
    path = os.environ["PATH"].split(os.pathsep)
    assert path[0] == pyenv["PATH"]  # what was on PATH keeps its place
    found = python_discovery.get_interpreter(VERSION, env=dict(os.environ))
    assert found is not None
    assert f"{found.version_info[0]}.{found.version_info[1]}" == VERSION
    _toxfile().tox_add_core_config(None, None)
    assert os.environ["PATH"].split(os.pathsep) == path  # idempotent


def test_a_missing_version_is_still_missing(pyenv, monkeypatch):
    """The plugin adds only what is installed: tox still fails on a missing interpreter."""
    for key, value in pyenv.items():
        monkeypatch.setenv(key, value)
    _toxfile().tox_add_core_config(None, None)
    assert python_discovery.get_interpreter("3.1", env=dict(os.environ)) is None


def test_tox_fails_rather_than_skips_missing_interpreters():
    text = (ROOT / "tox.ini").read_text(encoding="utf-8")
    assert "skip_missing_interpreters = false" in text
