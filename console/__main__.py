"""`python -m console` runs the opsconsole command."""

from console.cli import main

main()
