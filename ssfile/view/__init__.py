"""The local web viewer behind ``ssfile view``.

* :mod:`.payload`  how a payload is shown: JSON, text or hex (pure);
* :mod:`.model`    paging over a file by offset, both ways, around damage (public Reader API);
* :mod:`.tally`    the overview (summary, streams, integrity, timeline), read incrementally;
* :mod:`.jobs`     keeps the tally current: large reads in a child process, growth in place;
* :mod:`.plots`    series of payload fields for the plot panel, kept and extended;
* :mod:`.api`      the JSON API as pure handlers: (route, query) -> dict or ApiError;
* :mod:`.server`   the loopback HTTP server: token, Host check, static whitelist.

The page itself (HTML, CSS, JavaScript) is package data in ``static/`` (served from memory).
"""
