"""Numbers fixed by the ``.ss`` format (spec/ss-format.md, "Constants")."""

MAGIC = b"Ss"
VERSION = 1
HEADER_SIZE = 128
SEPARATOR = 0x0D
DEFAULT_BEACON_INTERVAL = 1_048_576
MIN_BEACON_INTERVAL = 128
MAX_BEACON_INTERVAL = (1 << 32) - 1
MAX_FILE_NAME_WRITE = 111  # header padding must keep at least its 0x0D terminator
MAX_FILE_NAME_READ = 112  # upstream readers tolerate zero padding
MAX_STREAM_KEY_LEN = 249
MAX_PAYLOAD = (1 << 32) - 1
MAX_MARKERS = 255
MARKER_FIXED = 27  # marker size without the key bytes
BEACON_FIXED = 7  # empty beacon size
FRAME_FIXED = 32  # frame size without key and payload
MAX_MARKER_SIZE = MARKER_FIXED + 255

INTERNAL_KEY = "SEA_STREAMER_INTERNAL"
WILDCARD_KEY = "SEA_STREAMER_WILDCARD"
BROADCAST_KEY = "broadcast"
EOS_PAYLOAD = b"EOS"
PULSE_PAYLOAD = b"PULSE"


def max_markers(space: int) -> int:
    """How many markers of the largest size fit in ``space`` bytes of beacon."""
    if space < BEACON_FIXED:
        return 0
    return min(MAX_MARKERS, (space - BEACON_FIXED) // MAX_MARKER_SIZE)


def num_markers(beacon_interval: int) -> int:
    """Markers per beacon for an interval: half of what could fit (upstream's rule)."""
    return max_markers(beacon_interval) // 2
