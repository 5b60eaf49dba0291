"""Entry point for `python -m vapiops`."""

from vapiops.cli.commands import main

main()
