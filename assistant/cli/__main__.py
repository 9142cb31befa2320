"""`python -m assistant.cli`: the same commands as the `assistant` script."""

from assistant.cli.app import app

app()
