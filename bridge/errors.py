"""The one root of the bridge's own errors, and the branches front ends map in one place.

```
BridgeError
├── OperatorError        what an operator gave cannot be used; fix it and run again
│   ├── ConfigError      a value of a command or a form (shop, supplier, mapping, policy)
│   ├── SettingsError    an environment setting (BRIDGE_…)
│   │   └── SecretKeyMismatch   BRIDGE_SECRET_KEY is not the key the database was written with
│   └── Refused          the action does not apply to the thing in its present state
├── NotFound             the named thing does not exist (also a LookupError)
├── Failed               the action ran and did not succeed (a sync already running, a far side
│                        that did not answer); the message says whether to try again
└── ApiError             a call to Pancake or a supplier failed (``bridge.http_errors``)
```

The CLI turns ``OperatorError`` into exit status 2 and ``NotFound`` and ``Failed`` into 1
(``bridge/cli/exits.py``); the console turns them into 400/409, 404 and 502
(``bridge/web/console/errors.py``). Every message is a sentence for a person: it says what is
wrong and, where it can, what to do; it never carries a key, a secret or a credential.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class OperatorError(BridgeError):
    """Input or setup an operator can fix; the message says what and how."""


class ConfigError(OperatorError, ValueError):
    """Operator input that cannot be saved; the message says why."""


class SettingsError(OperatorError):
    """A setting is missing or unusable; the message says which and how to fix it."""


class SecretKeyMismatch(SettingsError, ValueError):
    """A stored secret (or the stored key check) does not open with the configured keys."""


class Refused(OperatorError):
    """The action does not apply to the thing in its present state; the message says why."""


class NotFound(BridgeError, LookupError):
    """The named thing (a line, a shop, a mapping) does not exist."""


class Failed(BridgeError):
    """The action ran but did not succeed (a sync already running, Pancake not answering)."""
