"""Benchmarks of the catalog import and of image lookups: `python -m bench --help`."""


class BenchError(RuntimeError):
    """A benchmark cannot run or produced an untrustworthy result; the message says why."""
