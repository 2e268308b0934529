"""``python -m reference_runtime worker ...``: see :mod:`reference_runtime._cli`."""

from __future__ import annotations

import sys

from reference_runtime._cli import main

if __name__ == "__main__":
    sys.exit(main())
