"""``python -m zoo.bench``: the benchmark harness."""
from .cli import main

raise SystemExit(main())
