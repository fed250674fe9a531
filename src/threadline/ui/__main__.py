"""``python -m threadline.ui``: the same as ``threadline ui``."""

from threadline.ui.serve import main

main()
