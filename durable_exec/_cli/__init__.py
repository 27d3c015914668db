"""The ``durable-exec`` command line (``python -m durable_exec``).

Layered above :mod:`durable_exec.testing`: local commands run workflows on the
embedded :class:`~durable_exec.testing.LocalDurableService` over a
:class:`~durable_exec.testing.SqliteStore`; ``show``, ``list``, ``history``
and ``callback`` speak the Lambda API to that service or, with ``--endpoint``
or ``--region``, to a botocore ``lambda`` client. Modules:

* ``_app``: argument parsing, dispatch, the one error boundary and exit codes;
* ``_commands``: one function per command, written against :class:`~._api.DurableApi`;
* ``_api``: the Lambda calls the commands make, with errors translated once;
* ``_local`` / ``_remote``: where the ``lambda`` client comes from;
* ``_loader``: ``PATH_OR_MODULE:HANDLER`` specs;
* ``_driver``: plays Lambda for local executions (invocations, chained invokes, time);
* ``_view`` / ``_render`` / ``_progress``: history → tree, timeline, tables, JSON, live line.
"""
