"""Recording surgery: filter, merge, split and concatenate ``.ss`` files (issue 15).

Each operation streams its inputs through :class:`~ssfile.file.reader.Reader` objects and
writes new files with the :class:`~ssfile.file.writer.Writer` under temporary names renamed
into place on success (:mod:`ssfile.file.output`); each returns a
:class:`~.summary.Summary`.  Modules: :mod:`.select` (what filter keeps), :mod:`.jsonexpr`
(the JSON filter language), :mod:`.filter`, :mod:`.merge`, :mod:`.split`, :mod:`.concat`.
"""

from .concat import concat
from .filter import filter, filter_file
from .merge import merge
from .split import split
from .summary import Summary

__all__ = ["Summary", "concat", "filter", "filter_file", "merge", "split"]
