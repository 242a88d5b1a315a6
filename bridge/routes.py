"""The addresses the bridge answers at that someone else is told about: Pancake's webhook route
and the header its secret comes in. One spelling for the web app, ``bridge shops connect``, the
doctor and the sandbox; a light module, so commands that print them need not import the app.
"""

WEBHOOK_PATH = "/webhooks/pancake/{shop_id}"
# HTTP header names compare case-insensitively; this is how the bridge asks for it.
WEBHOOK_SECRET_HEADER = "X-Bridge-Secret"
