"""Ctrl-C on `grade batch`: the first says what it waits for, the second stops the running gradings and
leaves nothing behind, the gradebook is written either way, and running the batch again loses nothing.

Every wait here is for a condition (a results file, a sandbox worker in a sleep, a line printed), with a
generous bound that only a broken batch reaches; nothing assumes how fast the machine is."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from grader.instructor.batch import GRADING_LOG, results_folder
from grader.instructor.bench import sandbox_workers
from tests.support.corpus import ROOT, SOLUTION

pytestmark = pytest.mark.slow

BOUND_S = 600  # only a batch that ignores Ctrl-C, or never starts, gets near it
MARKER = "qsleepforever"[:15]  # the worker's process name while it sleeps (/proc/PID/comm holds 15 characters)
SLEEPS = f'''

import ctypes as _ctypes
import time as _time


def _q_sample_that_sleeps(self, *args, **kwargs):
    _ctypes.CDLL(None).prctl(15, b"{MARKER}", 0, 0, 0)  # PR_SET_NAME: the test sees the sleep
    _time.sleep(3600)


GaussianDiffusion.q_sample = _q_sample_that_sleeps
'''


def wait_for(condition, what: str, bound: float = BOUND_S):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what} after {bound} s")


def sandbox_processes(scratch: Path) -> list[int]:
    """PIDs of the sandboxes graded with temp folder `scratch`: a launcher (bwrap, unshare) or an
    unconfined fork server names its folder there on its command line, and every sandbox worker of this
    test renames itself MARKER while it sleeps (the grading processes themselves are left out)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    argv = handle.read()
                with open(f"/proc/{name}/comm") as handle:
                    comm = handle.read().strip()
            except OSError:
                continue
            if comm == MARKER or (str(scratch).encode() in argv and b"\0-m\0grader\0" not in argv):
                found.append(int(name))
    return found


def worker_sleeping(batch_pid: int) -> bool:
    for pid in sandbox_workers(below=batch_pid):
        try:
            with open(f"/proc/{pid}/comm") as handle:
                if handle.read().strip() == MARKER:
                    return True
        except OSError:
            pass
    return False


def read_gradebook(path: Path) -> dict[str, dict]:
    with open(path, newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


class Batch:
    """`python -m grader batch ...` as a user runs it, its output collected line by line as it comes."""

    def __init__(self, args: list[str], tmp: Path):
        env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp))
        self.process = subprocess.Popen([sys.executable, "-m", "grader", "batch", *args], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.process.stdout, self.lines), (self.process.stderr, self.errors))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, sink: list[str]) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))

    def line_with(self, text: str) -> str | None:
        return next((line for line in self.lines if text in line), None)

    def wait(self) -> int:
        code = self.process.wait(timeout=BOUND_S)
        for reader in self._readers:
            reader.join(timeout=60)
        return code


def test_ctrl_c_says_what_it_waits_for_stops_the_gradings_on_the_second_and_a_rerun_loses_nothing(tmp_path):
    hand_ins = tmp_path / "class"
    (hand_ins / "ann").mkdir(parents=True)  # nothing inside: rejected, quickly
    shutil.copytree(SOLUTION / "diffusion_hw", hand_ins / "bob" / "diffusion_hw",
                    ignore=shutil.ignore_patterns("__pycache__"))
    with open(hand_ins / "bob" / "diffusion_hw" / "gaussian_diffusion.py", "a", encoding="utf-8") as handle:
        handle.write(SLEEPS)  # q_sample sleeps: bob's grading runs until it is stopped
    (hand_ins / "cat").mkdir()
    (hand_ins / "dan").mkdir()
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    scratch.mkdir(mode=0o711)
    scratch.chmod(0o711)  # like /tmp: the sandbox's folders inside must stay reachable by its user

    batch = Batch([str(hand_ins), "--out", str(out), "--jobs", "1", "--public-only"], scratch)
    wait_for(lambda: (results_folder(out, "ann") / "results.json").is_file() and worker_sleeping(batch.process.pid),
             "ann graded and bob's sandbox in q_sample's sleep")
    assert read_gradebook(out / "gradebook.csv")["ann"]["status"] == "rejected"  # written after every grading

    batch.process.send_signal(signal.SIGINT)
    said = wait_for(lambda: batch.line_with("Ctrl-C:"), "the batch to say what it waits for")
    assert "Waiting for the 1 running: bob" in said and "2 not started (cat, dan)" in said, said
    assert batch.process.poll() is None and worker_sleeping(batch.process.pid)  # the first Ctrl-C stops nothing
    assert sandbox_processes(scratch), "bob's sandbox is running"  # what must be gone below

    batch.process.send_signal(signal.SIGINT)
    assert batch.wait() == 130, batch.errors
    assert batch.line_with("Ctrl-C again: stopping bob"), batch.lines
    assert "run the same command again" in "\n".join(batch.errors)
    assert sandbox_processes(scratch) == []  # no launcher, fork server or worker left running
    assert [p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_")] == []  # no scratch folder
    rows = read_gradebook(out / "gradebook.csv")
    assert list(rows) == ["ann", "bob", "cat", "dan"]
    assert rows["ann"]["status"] == "rejected" and rows["ann"]["total"] == "0"
    assert rows["bob"]["status"] == "incomplete" and "stopped by Ctrl-C" in rows["bob"]["note"], rows["bob"]
    assert all(rows[n]["status"] == "incomplete" and "interrupted" in rows[n]["note"] for n in ("cat", "dan")), rows
    assert not (results_folder(out, "bob") / "results.json").exists()  # no partial result passes for a score
    log = (results_folder(out, "bob") / GRADING_LOG).read_text()
    assert "grade: interrupted" in log and "stopped by Ctrl-C" in log.splitlines()[-1], log
    kept = (results_folder(out, "ann") / "results.json").stat().st_mtime_ns

    shutil.rmtree(hand_ins / "bob" / "diffusion_hw")  # bob hands in again (nothing): quick to grade
    again = Batch([str(hand_ins), "--out", str(out), "--jobs", "1", "--public-only"], scratch)
    assert again.wait() == 0, again.errors
    assert again.line_with("ann: rejected 0") and "already graded" in again.line_with("ann: rejected 0")
    assert (results_folder(out, "ann") / "results.json").stat().st_mtime_ns == kept  # reused, not graded again
    rows = read_gradebook(out / "gradebook.csv")
    assert list(rows) == ["ann", "bob", "cat", "dan"]
    assert all(row["status"] == "rejected" and row["total"] == "0" for row in rows.values()), rows
    for name in rows:
        folder = results_folder(out, name)
        assert (folder / "results.json").is_file() and (folder / GRADING_LOG).is_file()
