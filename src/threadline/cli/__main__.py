"""``python -m threadline.cli``: the same as ``threadline``."""

import sys

from threadline.cli import main

sys.exit(main())
