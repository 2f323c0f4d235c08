"""The evaluation engine: plans models x attacks x seeds into jobs, runs them on an executor
(in-process, a local process pool, or Ray), shares posteriors through a cache, and records every
finished job in the store in its own transaction."""
