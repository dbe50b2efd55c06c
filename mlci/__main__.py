"""`python -m mlci`: the same CLI as the `mlci` console script."""

from mlci.cli import main

main()
