"""Recording surgery: filter, merge, split and concatenate ``.ss`` files (issue 15).

Each operation streams its inputs through :class:`~ssfile.file.reader.Reader` objects and
writes new files with the :class:`~ssfile.file.writer.Writer` under temporary names renamed
into place on success (:mod:`ssfile.file.output`); each returns a
:class:`~.summary.Summary`.  Modules: :mod:`.select` (what filter keeps), :mod:`.jsonexpr`
(the JSON filter language), :mod:`.filter`, :mod:`.merge`, :mod:`.split`, :mod:`.concat`; the
public names are ``ssfile.filter``, ``ssfile.merge``, ``ssfile.split``, ``ssfile.concat``.
"""
