"""Entry point for `python -m vapiops`."""

from vapiops.cli import main

main()
