"""map and parallel (the official SDK's ``concurrency`` package); see :mod:`.models`."""
