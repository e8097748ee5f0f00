"""Layer beside ``file``: checking (verify) and salvaging (repair) damaged ``.ss`` files."""

from .diagnosis import Diagnosis, Problem
from .repair import RepairReport, repair
from .verify import verify, verify_bytes

__all__ = ["Diagnosis", "Problem", "RepairReport", "repair", "verify", "verify_bytes"]
