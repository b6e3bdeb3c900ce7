"""`python -m infercap` runs the command line."""

from infercap.cli.main import main

raise SystemExit(main())
