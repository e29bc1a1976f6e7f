"""`python -m cbsi` is `cbsi`."""

from cbsi.cli import main

main()
