"""``python -m deepfit``: the command line."""

from deepfit.cli import main

main()
