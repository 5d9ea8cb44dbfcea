"""`python -m app.cli` runs the `stamgast` command."""

from app.cli.base import main

main()
