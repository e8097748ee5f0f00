"""pytest plugin for the runs in a simulated platform (``-p sim_plugin``, see
tests/test_platform_sim.py): fewer hypothesis examples (these runs prove the fallbacks, the
normal runs prove the properties), and one line saying what was simulated, checked by the
caller so that a simulation that did not load cannot pass unnoticed."""

import importlib
import os

from hypothesis import settings

MAX_EXAMPLES = 8
settings.register_profile("platform-sim", max_examples=MAX_EXAMPLES, deadline=None)
settings.load_profile("platform-sim")


def pytest_collection_modifyitems(items):
    """Tests with their own ``@settings(max_examples=...)`` are capped too."""
    for item in items:
        test = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None and own.max_examples > MAX_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(own, max_examples=MAX_EXAMPLES)


def _absent(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return True
    return False


def pytest_terminal_summary(terminalreporter):
    import ssfile.platform as p

    facts = [
        f"simulated={os.environ.get('SSFILE_SIMULATED_PLATFORM')}",
        f"fcntl={'absent' if _absent('fcntl') else 'present'}",
        f"os.pread={'present' if hasattr(os, 'pread') else 'absent'}",
        f"ssfile.platform.WINDOWS={p.WINDOWS}",
        f"pread={p.pread.__name__}",
    ]
    terminalreporter.write_line("platform-sim: " + " ".join(facts))
