"""The replay-aware logger (the official SDK's ``logger`` module).

``context.logger`` is a :class:`Logger`: it adds the execution's fields to every
record and stays silent while the code replays. Swap its destination with
``context.set_logger(...)`` (any :class:`LoggerInterface`, e.g. a Powertools logger).
"""

from durable_exec._logging import DurableLogger as Logger
from durable_exec._logging import LoggerInterface

__all__ = ["Logger", "LoggerInterface"]
