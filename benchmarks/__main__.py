"""``python -m benchmarks``: see :mod:`benchmarks.run`; ``store-scaling``: the local store."""

import sys

if sys.argv[1:2] == ["store-scaling"]:
    from benchmarks.store_scaling import main as store_scaling

    raise SystemExit(store_scaling(sys.argv[2:]))

from benchmarks.run import main

raise SystemExit(main())
