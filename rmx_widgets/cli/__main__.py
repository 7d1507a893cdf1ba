"""``python -m rmx_widgets.cli``: the same as the ``rmx`` command."""

import sys

from rmx_widgets.cli import main

if __name__ == "__main__":
    sys.exit(main())
