"""``python -m vtg_plugins.cli``: the ``vtg`` command."""
import sys

from vtg_plugins.cli import main

sys.exit(main())
