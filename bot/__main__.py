"""`python -m bot` is the `bot` command."""

from .cli import main

main()
