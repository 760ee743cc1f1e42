"""`python -m node`: the `registry` command (how `registry up` starts its role processes)."""

from node.cli import main

main()
