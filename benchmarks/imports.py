"""Import cost in a fresh interpreter: wall time, modules, RSS, and whether botocore came along.

Each sample is a new ``python`` process that times only the ``import``
statement (interpreter start-up excluded) with a warm bytecode cache (one
discarded warm-up process first, which writes ``__pycache__``). Run alone with
``python -m benchmarks.imports``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["measure_import"]

_REPO = Path(__file__).resolve().parent.parent

_PROBE = """
import sys, time
_before = len(sys.modules)
_t = time.perf_counter()
import {module}
_dt = time.perf_counter() - _t
{rss}
import json
print(json.dumps({{
    "seconds": _dt,
    "modules": len(sys.modules) - _before,
    "botocore": "botocore" in sys.modules,
    "boto3": "boto3" in sys.modules,
    "rss_mb": _rss(),
}}))
"""

# Peak RSS of this process image: VmHWM (ru_maxrss survives fork+exec on Linux, so a
# child started by a big parent would report the parent's peak).
_RSS = """
def _rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

_BARE = """
{rss}
import json
print(json.dumps({{"rss_mb": _rss()}}))
"""


def _sample(code: str) -> dict[str, Any]:
    # Bytecode caching on (the warm-up run writes __pycache__), as on a deployed function
    # whose package ships .pyc files or a warm container; PYTHONDONTWRITEBYTECODE would
    # make every sample compile durable_exec from source.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # Run from the repository root so an uninstalled checkout imports too.
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
        cwd=_REPO,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure_import(module: str, samples: int = 7) -> dict[str, Any]:
    """Return the median import time (s) of ``module`` over ``samples`` fresh processes.

    Also: modules it loaded, RSS after import (MB) and over a bare interpreter,
    and whether botocore/boto3 ended up in ``sys.modules``.
    """
    code = _PROBE.format(module=module, rss=_RSS)
    _sample(code)  # warm the bytecode cache
    runs = [_sample(code) for _ in range(samples)]
    bare = statistics.median(_sample(_BARE.format(rss=_RSS))["rss_mb"] for _ in range(3))
    rss = statistics.median(r["rss_mb"] for r in runs)
    return {
        "module": module,
        "seconds": statistics.median(r["seconds"] for r in runs),
        "all_seconds": [r["seconds"] for r in runs],
        "modules": runs[-1]["modules"],
        "botocore": any(r["botocore"] for r in runs),
        "boto3": any(r["boto3"] for r in runs),
        "rss_mb": rss,
        "rss_over_bare_mb": rss - bare,
    }


def main() -> int:
    for module in ("durable_exec", "aws_durable_execution_sdk_python"):
        try:
            r = measure_import(module)
        except subprocess.CalledProcessError as exc:
            print(f"{module}: cannot import ({exc.stderr.strip().splitlines()[-1]})")
            continue
        print(
            f"{module:36} {r['seconds'] * 1000:7.1f} ms  {r['modules']:4d} modules  "
            f"RSS {r['rss_mb']:.1f} MB (+{r['rss_over_bare_mb']:.1f})  botocore={r['botocore']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
