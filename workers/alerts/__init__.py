"""Alerts: what needs an operator, recorded once per incident and told to their channels.

- ``store``: raise and resolve (one row per kind and subject), inside the caller's transaction;
- ``conditions``: alerts read from the rows' state each sweep (lines needing attention, paused
  suppliers);
- ``models``: the alert table and its outbox columns;
- ``outbox``: the scheduler's job and the step that tell each channel what it does not know;
- ``notify``: the channels of ``BRIDGE_ALERT_URLS``, sent to through apprise;
- ``queries``: what `bridge alerts list` and the console show.

A supplier's own alerts (a refused or expiring key, a low balance) are raised by the supplier
domain (``workers/suppliers``), from the tables of ``bridge/supplier/key_alerts.py``.
"""
