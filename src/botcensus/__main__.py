"""`python -m botcensus` runs the command line."""

from botcensus.cli import main

main()
