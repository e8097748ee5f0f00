"""pytest plugin for the runs in a simulated platform (``-p sim_plugin``, see
tests/test_platform_sim.py): fewer hypothesis examples (these runs prove the fallbacks, the
normal runs prove the properties), and one line saying what was simulated, checked by the
caller so that a simulation that did not load cannot pass unnoticed."""

import importlib
import os

from hypothesis import settings

settings.register_profile("platform-sim", max_examples=8, deadline=None)
settings.load_profile("platform-sim")


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
