"""``python -m vtg_plugins ...``: the ``vtg`` command (``vtg_plugins.cli``),
e.g. ``python -m vtg_plugins info``."""
import sys

from vtg_plugins.cli import main

if __name__ == '__main__':
    sys.exit(main())
