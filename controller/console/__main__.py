"""`python -m controller.console ...`: the console command itself, as the web server starts it."""

from controller.cli.console import console

console(prog_name="sessionroom console")
