"""`python -m infra` runs the tatawwu CLI (handy where the console script is not on PATH)."""

from infra.cli import main

main()
