"""``python -m bridge.cli ...``: the same as the ``bridge`` command."""

from bridge.cli import main

raise SystemExit(main())
