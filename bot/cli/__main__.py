"""`python -m bot.cli`: the `parentbot` command, for a checkout where the console script is not
installed (the tests, the benchmarks)."""

from bot.cli.main import main

raise SystemExit(main())
