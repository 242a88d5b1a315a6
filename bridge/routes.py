"""The addresses the bridge answers at that someone else is told about: Pancake's webhook route,
the header its secret comes in and the query parameter its URL token rides in. One spelling for
the web app, ``bridge shops connect``, the doctor and the sandbox; a light module, so commands
that print them need not import the app.
"""

WEBHOOK_PATH = "/webhooks/pancake/{shop_id}"
# HTTP header names compare case-insensitively; this is how the bridge asks for it.
WEBHOOK_SECRET_HEADER = "X-Bridge-Secret"
# Some shops' Pancake sends no custom header (DESIGN.md §4): the webhook URL carries a per-shop
# token too, as ``?token=``. A query parameter rather than a path segment: the route stays one
# (a URL without it still works with the header), ``token=`` values are already masked in every
# log line and traceback (bridge.logs), a proxy can log ``$uri`` without it, and a URL printed
# for a person (``connect.shown_url``) has its query values masked.
WEBHOOK_TOKEN_PARAM = "token"
