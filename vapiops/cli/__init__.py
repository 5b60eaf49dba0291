"""The command line: options, prompts and printing; every flow lives in vapiops.flows."""

from vapiops.cli.commands import cli, main

__all__ = ["cli", "main"]
