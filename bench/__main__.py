"""`python -m bench`: every benchmark, one table (see bench/run.py)."""

import asyncio

from bench.run import main

asyncio.run(main())
