"""``python -m zoo.bench``: the benchmark harness."""
from .harness import main

raise SystemExit(main())
