"""``durable-exec ui``: a local web console over the project's store.

The console shows what the command line shows, in a browser: the executions
(paginated, filtered by status and name, searchable), and for one execution
its operation tree, a Gantt timeline across its invocations, each
operation's result or error (with the stack trace), and the callbacks it
waits for, with buttons to answer them and to resume the execution. Pages
follow changes made by any process (a ``durable-exec run`` in another
terminal) by short polling of the store's change sequence.

It is built on the standard library only (:mod:`http.server`), and on
:class:`~durable_exec._cli._workspace.Workspace`, the API the commands use.
Nothing here is imported by ``import durable_exec``. The page is plain HTML,
CSS and JavaScript shipped in ``static/`` (no build step, nothing fetched
from elsewhere); it builds its DOM from text only, never from markup.

Modules: :mod:`._server` (HTTP, routes), :mod:`._security` (session token,
CSRF, Host and Origin checks), :mod:`._data` (the JSON answers),
:mod:`._timeline` (the Gantt layout), :mod:`._jobs` (resumes in child
processes).
"""

from typing import Final

__all__ = ["DEFAULT_PORT"]

DEFAULT_PORT: Final = 8732
"""The port ``durable-exec ui`` listens on unless ``--port`` says otherwise."""
