"""Write every dependency setup.cfg declares, pinned to its lower bound.

Used by the tox env ``mindeps``: the runtime requirements and the ``test``
extra, each ``name>=X`` pinned to ``name==X`` (``==`` pins are kept), so the
suite runs against the oldest versions the package claims to support. A
requirement named with ``--skip`` is left out (the official SDK's packages:
they need newer runtime dependencies than ours, so they cannot be installed
next to our floors; the suites that compare against them are not run there).

    python .ci/lower_bounds.py OUT.txt [--skip NAME ...]
"""

from __future__ import annotations

import argparse
import configparser
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*(?P<spec>[<>=!~][^;]*)?$"
)


def _lines(value: str) -> list[str]:
    lines = []
    for raw in value.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def lower_bounds(setup_cfg: pathlib.Path, extras: list[str], skip: set[str]) -> list[str]:
    """Return the pinned requirement lines, in the order setup.cfg declares them.

    Raises:
        ValueError: A requirement has no lower bound to pin.
    """
    config = configparser.ConfigParser()
    config.read(setup_cfg, encoding="utf-8")
    declared = _lines(config["options"]["install_requires"])
    for extra in extras:
        declared += _lines(config["options.extras_require"][extra])
    pinned: list[str] = []
    for requirement in declared:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise ValueError(f"cannot read the requirement {requirement!r}")
        name, extra_names = match["name"], match["extras"] or ""
        if name.lower() in skip:
            continue
        specs = [s.strip() for s in (match["spec"] or "").split(",") if s.strip()]
        floor = [s for s in specs if s.startswith((">=", "=="))]
        if len(floor) != 1:
            raise ValueError(f"{requirement!r} has no single lower bound (>= or ==) to pin")
        pinned.append(f"{name}{extra_names}=={floor[0][2:].strip()}")
    return pinned


def main() -> None:
    """Write setup.cfg's lower bounds, pinned, to the file named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--extra", action="append", default=["test"])
    parser.add_argument("--skip", action="append", default=[])
    args = parser.parse_args()
    pins = lower_bounds(ROOT / "setup.cfg", args.extra, {s.lower() for s in args.skip})
    args.out.write_text("\n".join(pins) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
