"""The audit log: an append-only, hash-chained record of what admins and program managers did.

Import ``append`` / ``entries`` / ``verify`` from ``server.audit.log`` and actions from
``server.audit.actions``. Entries hold ids, an action enum and a small detail of ids, numbers
and identifiers — never content.
"""
