"""``python -m deepfit.cli``: the command line."""

from deepfit.cli import main

main()
