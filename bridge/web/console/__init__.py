"""The web console (``/admin``): login, fulfilments, suppliers and the dashboard.

starlette-admin draws the lists, search, paging and the login form; this room adds what it cannot
do: users with argon2id passwords, a session cookie signed with a key derived from
``BRIDGE_SECRET_KEY``, a login throttle shared by every process, audited credential reveals and
the CLI's retry and resend. The read side comes from ``workers.fulfilment.queries`` and the
re-drives from ``workers.fulfilment.redrive``.

This module imports nothing: the migrations and the CLI read ``models`` and ``users`` without
loading the admin library (``app.Console`` is the entry point).
"""
