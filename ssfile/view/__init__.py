"""The local web viewer behind ``ssfile view``.

* :mod:`.payload`  how a payload is shown: JSON, text or hex (pure);
* :mod:`.model`    paging over a file by offset, both ways, around damage (public Reader API);
* :mod:`.jobs`     whole-file work (summary, timeline, verify) in a worker process;
* :mod:`.api`      the JSON API as pure handlers: (route, query) -> dict or ApiError;
* :mod:`.server`   the loopback HTTP server: token, Host check, static whitelist.

The page itself (HTML, CSS, JavaScript) is package data in ``static/`` (served from memory).
"""
