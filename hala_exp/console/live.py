"""The run's console: one line per step (status, wall time, headline metric) and a live bar.

On a terminal the running step is one line redrawn in place (spinner, elapsed time, and a bar with
rate and ETA when the step reports progress), replaced by its final line. Elsewhere (a pipe, a
Slurm log) a step prints a start line, a plain progress line every `plain_every_s`, and its final
line. Writes go to the stream given, which is the terminal even while fds 1 and 2 are redirected
into a step's log (the quiet console dups stdout before redirecting).
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import TextIO

from hala_exp.progress import Snapshot

COLORS = {"ran": "32", "reused": "36", "failed": "31", "interrupted": "31", "running": "33", "broken": "31"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
BAR_WIDTH = 20
REDRAW_S = 0.1  # at most this often on a terminal, however fast progress comes


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _count(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:.1f}"


def describe(snap: Snapshot, bar: bool, age: float = 0.0) -> str:
    """`[#####-----] 120/300 steps · 48/160 prompts  4.1 steps/s  ETA 44s` for the outermost open task,
    the innermost one beside it; its part of the current shard counts toward the outer fraction.
    `age`: seconds since the snapshot was taken, so rate and ETA keep moving between updates."""
    if not snap:
        return ""
    outer, inner = snap[0], (snap[-1] if len(snap) > 1 else None)
    done = outer["done"]
    if inner and inner["total"] > 0 and outer["pending"] > 0:
        done += outer["pending"] * min(inner["done"] / inner["total"], 1.0)
    text = f"{_count(outer['done'])}/{_count(outer['total'])} {outer['unit']}" if outer["total"] > 0 else \
        f"{_count(outer['done'])} {outer['unit']}"
    if inner:
        text += f" · {_count(inner['done'])}/{_count(inner['total'])} {inner['unit']}"
    elapsed = outer["elapsed"] + age
    rate = (done - outer["initial"]) / elapsed if elapsed > 0 else 0.0
    if rate > 0:
        text += f"  {rate:.3g} {outer['unit']}/s"
        if outer["total"] > 0:
            text += f"  ETA {duration(max(outer['total'] - done, 0.0) / rate)}"
    if bar and outer["total"] > 0:
        filled = int(BAR_WIDTH * min(done / outer["total"], 1.0))
        text = "█" * filled + "░" * (BAR_WIDTH - filled) + " " + text
    return text


class Console:
    """Step lines for a run of `total` steps whose longest name is `width` characters."""

    def __init__(self, out: TextIO, total: int, width: int, live: bool, color: bool | None = None,
                 plain_every_s: float = 60.0, owns_out: bool = False):
        self.out, self.total, self.width, self.live = out, total, width, live
        self.owns_out = owns_out  # a dup of stdout made for this console: closed with it
        self.color = live and not os.environ.get("NO_COLOR") if color is None else color
        self.plain_every_s = plain_every_s
        self.redraw_s = REDRAW_S
        self.index = 0
        self.running: str | None = None
        self.began = 0.0
        self.snap: Snapshot = []
        self._snap_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._drawn = 0.0
        self._plain_at = 0.0

    # -- lines ------------------------------------------------------------------------------------
    def _paint(self, text: str, status: str) -> str:
        return f"\x1b[{COLORS[status]}m{text}\x1b[0m" if self.color and status in COLORS else text

    def _prefix(self) -> str:
        n = len(str(self.total))
        return f"[{self.index:>{n}}/{self.total}]"

    def _line(self, status: str, name: str, seconds: float | None, detail: str) -> str:
        took = duration(seconds) if seconds is not None else ""
        return (f"{self._prefix()} {self._paint(f'{status:<7}', status)} {name:<{self.width}} {took:>7}  "
                f"{detail}").rstrip()

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):  # the terminal went away: the run goes on, logs are complete
            pass

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return columns or shutil.get_terminal_size().columns  # a fresh pty reports 0

    # -- steps ------------------------------------------------------------------------------------
    def reused(self, name: str, detail: str) -> None:
        with self._lock:
            self.index += 1
            self._write(self._line("reused", name, None, detail) + "\n")

    def broken(self, name: str, detail: str) -> None:
        """The next step's stored output is damaged (said before it runs again, under its number)."""
        with self._lock:
            self.index += 1
            line = self._line("broken", name, None, detail)
            self.index -= 1
            self._write(line + "\n")

    def started(self, name: str) -> None:
        with self._lock:
            self.index += 1
            self.running, self.began, self.snap = name, time.monotonic(), []
            self._plain_at = self.began
            if self.live:
                self._redraw()
            else:
                self._write(self._line("running", name, None, "") + "\n")
        if self.live or self.plain_every_s > 0:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="hala-console", daemon=True)
            self._ticker.start()

    def progress(self, snap: Snapshot) -> None:
        with self._lock:
            self.snap, self._snap_at = snap, time.monotonic()
            if self.live and self.running and time.monotonic() - self._drawn >= self.redraw_s:
                self._redraw()

    def finished(self, name: str, status: str, seconds: float, detail: str = "") -> None:
        self._stop_ticker()
        with self._lock:
            clear = "\r\x1b[K" if self.live else ""
            self._write(clear + self._line(status, name, seconds, detail) + "\n")
            self.running, self.snap = None, []

    def close(self) -> None:
        self._stop_ticker()
        if self.running and self.live:
            self._write("\n")
        if self.owns_out:
            self.out.close()

    # -- the running step -------------------------------------------------------------------------
    def _redraw(self) -> None:
        elapsed = time.monotonic() - self.began
        spin = SPINNER[int(elapsed * 10) % len(SPINNER)]
        head = f"{self._prefix()} {spin:<7} {self.running:<{self.width}} {duration(elapsed):>7}  "
        detail = describe(self.snap, bar=True, age=time.monotonic() - self._snap_at)
        detail = detail[:max(self._columns() - 1 - len(head), 0)]
        painted = head.replace(f"{spin:<7}", self._paint(f"{spin:<7}", "running"), 1)
        self._write("\r" + painted + detail + "\x1b[K")
        self._drawn = time.monotonic()

    def _tick(self) -> None:
        while not self._stop.wait(0.25 if self.live else 1.0):
            with self._lock:
                if not self.running:
                    return
                if self.live:
                    self._redraw()
                elif time.monotonic() - self._plain_at >= self.plain_every_s:
                    self._plain_at = time.monotonic()
                    self._write(self._line("running", self.running, time.monotonic() - self.began,
                                           describe(self.snap, bar=False, age=time.monotonic() - self._snap_at))
                                + "\n")

    def _stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None


def open_console(total: int, width: int, verbose: bool) -> Console:
    """The console of a run. Quiet: it writes to a dup of fd 1 taken now, so it still reaches the
    terminal once fds 1 and 2 go to a step's log; live when that is a terminal. Verbose: sys.stdout,
    plain lines and no periodic ones (the libraries' own output is there)."""
    if verbose:
        return Console(sys.stdout, total, width, live=False, plain_every_s=0.0)
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8", errors="replace")
    live = stream.isatty() and os.environ.get("TERM") != "dumb"
    return Console(stream, total, width, live=live, owns_out=True)
