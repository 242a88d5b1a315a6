"""Alerts: what needs an operator, recorded once per incident and told to their channels.

- ``store``: raise and resolve (one row per kind and subject), inside the caller's transaction;
- ``watch``: alerts read from the rows' state each sweep (lines needing attention, paused
  suppliers);
- ``balance``: the low-balance alert and its estimate of the orders the balance pays for;
- ``outbox``: the scheduler's job and the step that tell each channel what it does not know;
- ``notify``: the channels of ``BRIDGE_ALERT_URLS``, sent to through apprise;
- ``queries``: what `bridge alerts list` and the console show.
"""
