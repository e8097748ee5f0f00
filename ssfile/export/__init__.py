"""Analysis exports: numpy columns, pandas DataFrames, statistics and plots.

Nothing here imports numpy, pandas or matplotlib at import time: each public function
imports what it needs and raises :class:`~ssfile.errors.MissingDependency` (naming the
extra to install) when it is missing.
"""
