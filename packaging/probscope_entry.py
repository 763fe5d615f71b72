"""Entry point of the PyInstaller bundle (packaging/probscope.spec): the ``probscope`` command."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
