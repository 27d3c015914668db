"""Size limits the SDK works with (the official SDK's ``constants`` module)."""

from durable_exec._operations.child import REPLAY_CHILDREN_THRESHOLD as CHECKPOINT_SIZE_LIMIT_BYTES

__all__ = ["CHECKPOINT_SIZE_LIMIT_BYTES"]
