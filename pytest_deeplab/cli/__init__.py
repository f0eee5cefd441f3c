"""The `pytest-deeplab` command: `main` parses the command line, one module per subcommand."""

from pytest_deeplab.cli.main import main

__all__ = ["main"]
