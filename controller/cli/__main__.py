"""`python -m controller.cli` runs the sessionroom command line."""

from controller.cli import main

main()
