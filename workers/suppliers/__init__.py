"""The supplier domain's steps: each key's periodic account check (``accounts``: its real
limits, permissions and expiry) and the low-balance alert with its estimate of the orders the
balance still pays for (``balance``). What an answer means is decided in ``bridge/supplier``."""
