"""`python -m tatawwu` runs the tatawwu CLI (handy where the console script is not on PATH)."""

from tatawwu.cli import main

main()
