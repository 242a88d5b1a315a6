"""The queue's plumbing, and nothing of any domain: the broker (Redis or embedded), messages that
carry one id and are sent after commit (``dispatch``), one thin actor per step (``actors``), the
periodic scheduler, each step's context, named leases and each worker's heartbeat (with their
``models``). The steps themselves live in the domains beside it."""
