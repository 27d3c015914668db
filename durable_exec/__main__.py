"""``python -m durable_exec`` and the ``durable-exec`` console script."""

from __future__ import annotations

import sys

from durable_exec._cli._app import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
