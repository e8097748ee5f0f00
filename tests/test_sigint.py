"""Ctrl-C at any moment: every command exits 130, soon, without a traceback, and leaves its
output whole (issue 12, item 7).  Real processes receive SIGINT at random moments, from
0-50 ms after the start (while the modules load) to well into the work.

The processes run the installed console script with ``python -S``: the interpreter's own
start-up (``site`` and the editable install's import hook, 10-40 ms here) runs before any
code of ours can, so it is left out; ``PYTHONPATH`` gives what ``site`` would add.  A
SIGINT that arrives before any code of ours runs -- before the interpreter has installed its
handler (the process dies of the signal, returncode -2, no output), while it sets up its
streams or while it is still locating the entry module named by the console script (it
prints its own ``KeyboardInterrupt`` with no frame of ours, and may even carry on: then a
second SIGINT must stop it) -- is the interpreter's behaviour (:func:`interpreter_starting`):
it is accepted on evidence (no SIGINT handler in /proc when it was sent; or no frame of
ours in the report), whenever it comes, and counted.

Latency (SIGINT to exit) is printed per command (``pytest -s``); it is not asserted beyond
the generous ``TIMEOUT_S`` (the issue asks for one second).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import re
import signal
import site
import subprocess
import sys
import threading
import time

import pytest
import servers

import ssfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = pathlib.Path(sys.executable).parent / "ssfile"
TIMEOUT_S = 10.0
EARLY, LATE = 3, 3  # interrupts per command in [0, 50 ms) and in [50 ms, 700 ms)

redis_addr = servers.redis_addr  # the shared fixtures (tests/servers.py)
redis_client = servers.redis_client
redis_key = servers.redis_key


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *site.getsitepackages()])
    return env


def start(
    *args: str,
    stdin: object = subprocess.DEVNULL,
    stdout: object = subprocess.DEVNULL,
    **popen: object,
):  # type: ignore[no-untyped-def]
    assert SCRIPT.is_file(), f"no console script {SCRIPT}: run ./scripts/bootstrap"
    return subprocess.Popen(
        [sys.executable, "-S", str(SCRIPT), *args],
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=_env(),
        **popen,
    )


def moments(name: str) -> list[float]:
    rng = random.Random(f"sigint {name}")
    return [rng.uniform(0, 0.05) for _ in range(EARLY)] + [
        rng.uniform(0.05, 0.7) for _ in range(LATE)
    ]


def sigint_caught(pid: int) -> bool | None:
    """Whether process ``pid`` has a handler for SIGINT now (``SigCgt`` in /proc), or None
    where /proc does not say.  A SIGINT sent while it has none kills it (returncode -2):
    the interpreter had not installed its own yet -- the only way, since ours exits 130."""
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next(line.split()[1] for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return None
    return bool(int(mask, 16) >> (signal.SIGINT - 1) & 1)


def interrupt(proc: subprocess.Popen, delay: float) -> tuple[int, bytes, float | None, bool | None]:  # type: ignore[type-arg]
    """SIGINT ``delay`` s after the start; (returncode, stderr, seconds from SIGINT to exit,
    :func:`sigint_caught` just before the SIGINT).

    The interpreter itself may swallow a SIGINT that comes while it starts (it prints the
    ``KeyboardInterrupt`` and carries on); then a second one is sent, which must work, the
    report must hold no frame of ours, and the latency is None."""
    time.sleep(delay)
    caught = sigint_caught(proc.pid)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=TIMEOUT_S)
        return proc.returncode, err, time.monotonic() - sent, caught
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            _, err = proc.communicate(timeout=TIMEOUT_S)
            assert interpreter_frames_only(err), err
            return proc.returncode, err, None, caught
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"still running {TIMEOUT_S} s after SIGINT (sent at {delay:.3f} s): {err!r}")


def _import_line() -> int:
    """The console script's line that imports our entry module."""
    lines = SCRIPT.read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if "import entry" in line)


def interpreter_frames_only(err: bytes) -> bool:
    """``err`` is the interpreter's own report of a ``KeyboardInterrupt`` while it started (a
    traceback, or "Fatal Python error" while it sets up its streams), whose frames are all
    the interpreter's: frozen or standard-library modules, or the console script up to its line
    that imports our entry module (while it was compiled, or the module located).  No frame
    of ours."""
    if b"KeyboardInterrupt" not in err:
        return False
    script = os.fsencode(SCRIPT)
    for name, line in re.findall(rb'File "([^"]*)", line (\d+)', err):
        if name == script:
            if int(line) > _import_line():  # line 0: still compiling it
                return False
        elif name.startswith(os.fsencode(ROOT)):  # our package or _ssfile_cli.py
            return False
    return True


def interpreter_starting(code: int, err: bytes, delay: float, caught: bool | None) -> bool:
    """The SIGINT came while the interpreter was starting, before any code of ours ran: it
    died of the signal before installing its handler (nothing printed; /proc showed no
    handler, or, where /proc does not say, in the first 50 ms), or it reported the
    interrupt itself (:func:`interpreter_frames_only`: no frame of ours).  Under load the
    interpreter's start-up takes well over 50 ms (105 ms seen at load ~10)."""
    if code == -signal.SIGINT and err == b"":
        return caught is False or (caught is None and delay < 0.05)
    return err.rstrip().endswith(b"KeyboardInterrupt") and interpreter_frames_only(err)


def check_interrupted(
    name: str, delay: float, code: int, err: bytes, latency: float | None, caught: bool | None
) -> bool:
    """Exit 130 without a traceback; True if the SIGINT came before any code of ours ran."""
    if latency is None:  # the interpreter swallowed the first SIGINT; the second one worked
        assert code == 130, (name, delay, code, err)
        return True
    if interpreter_starting(code, err, delay, caught):
        return True
    assert b"Traceback" not in err and b"Exception" not in err, (name, delay, err)
    assert code == 130, (name, delay, code, err)
    return False


def interrupt_at_moments(name: str, make, after=None) -> None:  # type: ignore[no-untyped-def]
    """For each moment: ``make(i)`` starts a process, SIGINT, check, ``after(i)`` checks the
    output; prints the latencies."""
    latencies = []
    early = 0
    for i, delay in enumerate(moments(name)):
        code, err, latency, caught = interrupt(make(i), delay)
        early += check_interrupted(name, delay, code, err, latency, caught)
        if after is not None:
            after(i)
        if latency is not None:
            latencies.append(latency)
    print(
        f"\n{name}: SIGINT -> exit: max {max(latencies) * 1000:.0f} ms, "
        f"mean {sum(latencies) / len(latencies) * 1000:.0f} ms over {len(latencies)}"
        + (f"; {early} before any code of ours ran" if early else "")
    )


def feed(proc: subprocess.Popen, line: bytes) -> threading.Thread:  # type: ignore[type-arg]
    """Write ``line`` to the process's stdin until it goes away."""

    def run() -> None:
        try:
            while True:
                proc.stdin.write(line * 200)  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                time.sleep(0.001)
        except (OSError, ValueError):
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def assert_whole(path: pathlib.Path) -> None:
    """A file a command was writing when interrupted: every message in it intact, no damage
    (a missing EOS is allowed: it was stopped, not ended)."""
    if not path.exists():
        return  # interrupted before it was created
    diag = ssfile.verify(path)
    assert diag.readable and diag.exit_code() == 0, [str(p) for p in diag.problems]


def no_temporary_files(directory: pathlib.Path) -> None:
    left = [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
    assert left == [], left


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A recording without EOS, large enough that decoding it takes a while."""
    path = tmp_path_factory.mktemp("rec") / "rec.ss"
    with ssfile.open(path, "w", eos=False, beacon_interval=4096) as w:
        for i in range(60_000):
            w.write(b'{"n": %d, "pad": "%s"}' % (i, b"x" * 40), stream_key="k", timestamp=i)
    return path


# ---- the commands ----------------------------------------------------------------------------


def test_clock_as_fast_as_possible_to_stdio():
    # the loop never yielded: asyncio's Ctrl-C (cancel the main task) was never seen
    interrupt_at_moments(
        "clock --interval 0s",
        lambda i: start("clock", "--stream", "stdio:///c", "--interval", "0s"),
    )


def test_clock_as_fast_as_possible_to_a_file(tmp_path):
    interrupt_at_moments(
        "clock --interval 0s to file://",
        lambda i: start("clock", "--stream", f"file://{tmp_path}/c{i}.ss/c", "--interval", "0s"),
        lambda i: assert_whole(tmp_path / f"c{i}.ss"),
    )


def test_relay_stdin_to_a_file(tmp_path):
    def make(i: int):  # type: ignore[no-untyped-def]
        out = f"file://{tmp_path}/r{i}.ss/k"
        proc = start("relay", "--input", "stdio:///k", "--output", out, stdin=subprocess.PIPE)
        feed(proc, b"[k] hello\n")
        return proc

    interrupt_at_moments("relay stdio -> file", make, lambda i: assert_whole(tmp_path / f"r{i}.ss"))


def test_relay_a_followed_file_to_a_blocked_stdout(recording):
    interrupt_at_moments(
        "relay file (follow) -> stdout pipe",
        lambda i: start(
            "relay",
            "--input",
            f"file://{recording}/k",
            "--output",
            "stdio:///o",
            stdout=subprocess.PIPE,  # nobody reads it: relay blocks writing
        ),
    )


def test_decode_blocked_on_its_stdout(recording):
    interrupt_at_moments(
        "decode", lambda i: start("decode", str(recording), stdout=subprocess.PIPE)
    )


def test_cat_follow_waiting_for_more(recording):
    interrupt_at_moments(
        "cat --follow", lambda i: start("cat", "--follow", "--format", "raw", str(recording))
    )


def test_encode_from_a_pipe_leaves_the_old_file_and_no_temporary(tmp_path):
    out = tmp_path / "enc.ss"
    with ssfile.open(out, "w") as w:
        w.write(b"the old content", stream_key="old")
    before = out.read_bytes()

    def make(i: int):  # type: ignore[no-untyped-def]
        proc = start("encode", str(out), stdin=subprocess.PIPE)
        feed(proc, b"[k] a line\n")
        return proc

    def after(i: int) -> None:
        assert out.read_bytes() == before
        no_temporary_files(tmp_path)

    interrupt_at_moments("encode < pipe", make, after)


def test_view_serving(recording):
    interrupt_at_moments(
        "view", lambda i: start("view", str(recording), "--no-browser", "--port", "0")
    )


def test_dump_keeps_what_it_wrote_and_resumes(tmp_path, redis_addr, redis_client, redis_key):
    entries = 20_000
    pipe = redis_client.pipeline(transaction=False)
    for i in range(entries):
        pipe.xadd(redis_key, {"msg": f"m{i}"}, id=f"{1_700_000_000_000 + i}-0")
    pipe.execute()
    uri = f"redis://{redis_addr[0]}:{redis_addr[1]}/{redis_key}"

    def after(i: int) -> None:
        out = tmp_path / f"d{i}.ss"
        assert_whole(out)
        # a rerun resumes: every entry exactly once
        done = subprocess.run(
            [sys.executable, "-S", str(SCRIPT), "dump", uri, "-o", str(out), "--no-progress"],
            capture_output=True,
            env=_env(),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        with ssfile.open(out) as r:
            assert [m.payload for m in r] == [f"m{n}".encode() for n in range(entries)]

    # one entry per request: the dump is still running at every moment tried
    interrupt_at_moments(
        "dump",
        lambda i: start(
            "dump", uri, "-o", str(tmp_path / f"d{i}.ss"), "--page-size", "1", "--no-progress"
        ),
        after,
    )


# ---- SIGTERM: stopped as by Ctrl-C, exit 143 ---------------------------------------------------


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts `cmd &`


@pytest.mark.parametrize("background", [False, True], ids=["foreground", "sigint-ignored"])
def test_sigterm_stops_every_command_cleanly(tmp_path, recording, background):
    """``kill`` (systemd, ``docker stop``) stops a running command as Ctrl-C does: outputs
    closed, every message given written, no temporary file left, nothing on stderr, exit 143.
    Before, the process died of the signal (-15): an encode left its hidden temporary file
    and a recorder's buffered messages were lost.  Also when SIGINT is ignored (``cmd &``)."""
    out = tmp_path / "enc.ss"
    with ssfile.open(out, "w") as w:
        w.write(b"the old content", stream_key="old")
    before = out.read_bytes()
    extra = {"preexec_fn": _ignore_sigint} if background else {}

    def run(args, stdin=subprocess.DEVNULL, line=None):  # type: ignore[no-untyped-def]
        proc = start(*args, stdin=stdin, **extra)
        if line is not None:
            feed(proc, line)
        time.sleep(1.0)  # well into the work
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 143 and b"Traceback" not in err, (args, proc.returncode, err)
        return err

    run(["encode", str(out)], subprocess.PIPE, b"[k] a line\n")
    assert out.read_bytes() == before
    no_temporary_files(tmp_path)

    run(["clock", "--stream", f"file://{tmp_path}/c.ss/c", "--interval", "0s"])
    assert_whole(tmp_path / "c.ss")
    assert ssfile.verify(tmp_path / "c.ss").intact_messages > 1000

    err = run(
        ["relay", "--input", "stdio:///k", "--output", f"file://{tmp_path}/r.ss/k"],
        subprocess.PIPE,
        b"[k] hello\n",
    )
    assert err == b""
    assert_whole(tmp_path / "r.ss")

    err = run(["view", str(recording), "--no-browser", "--port", "0"])
    assert err.strip() == b"ssfile view: stopped"
