"""Profiles of a running local stack: py-spy for the Python services, JFR for the Kafka broker.

Used by `python -m bench.images --profile DIR` around the timed image run, or alone against any stack
whose processes this user may trace:

    .venv/bin/python -m bench.profile summarise DIR     # the top frames of profiles taken before

Writes into DIR, per process: `<service>-<pid>.txt` (py-spy's collapsed stacks, `--format raw`),
`broker-<pid>.jfr` and `broker-<pid>-threads.txt` (jcmd Thread.print), then `summary.md`: for each
service the frames that held the CPU most (own samples, i.e. the leaf of each stack) and the
project's functions under which most samples fell (inclusive). py-spy samples without pausing the process
(`--nonblocking`), so the profile costs the services little.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import typer

from bench import cpu

app = typer.Typer(add_completion=False)

TOP = 12


class Profiler:
    """Samples every process of the stack below this one until `stop()`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._spies: list[subprocess.Popen[bytes]] = []
        self._brokers: list[tuple[int, str]] = []

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        root = os.getpid()
        for process in cpu.descendants(root):
            if process.ppid != root:
                continue  # children are sampled with their service (--subprocesses)
            service = cpu.role(process.argv)
            if service == "Kafka broker (JVM)":
                self._start_jfr(process.pid)
            elif process.argv and Path(process.argv[0]).name.startswith("python"):
                self._start_spy(service, process.pid)

    def stop(self) -> None:
        for spy in self._spies:
            spy.send_signal(2)  # SIGINT: py-spy writes its file and exits
        for spy in self._spies:
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
        for pid, jcmd in self._brokers:
            threads = subprocess.run([jcmd, str(pid), "Thread.print"], capture_output=True, check=False)
            (self.folder / f"broker-{pid}-threads.txt").write_bytes(threads.stdout)
            subprocess.run([jcmd, str(pid), "JFR.stop", "name=bench"], capture_output=True, check=False)
        summarise(self.folder)

    def _start_spy(self, service: str, pid: int) -> None:
        out = self.folder / f"{service}-{pid}.txt"
        argv = [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ]
        if service == "reencoder":
            argv.append("--subprocesses")
        spy = Path(os.environ.get("VIRTUAL_ENV", ".venv")) / "bin" / "py-spy"
        argv[0] = str(spy) if spy.exists() else "py-spy"
        self._spies.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def _start_jfr(self, pid: int) -> None:
        # The jcmd of the broker's own JDK: another version's may fail to attach.
        jcmd = str(Path(os.path.realpath(f"/proc/{pid}/exe")).parent / "jcmd")
        recording = self.folder / f"broker-{pid}.jfr"
        started = subprocess.run(
            [jcmd, str(pid), "JFR.start", "name=bench", "settings=profile", f"filename={recording}"],
            capture_output=True,
            check=False,
        )
        if started.returncode == 0:
            self._brokers.append((pid, jcmd))


def top_frames(collapsed: Path) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, own samples per frame, inclusive samples per function) of a py-spy raw profile."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        frames = stack.split(";")
        total += samples
        own[_short(frames[-1])] += samples
        for name in {_short(frame) for frame in frames if _is_ours(frame)}:
            inclusive[name] += samples
    return total, own, inclusive


def jfr_top_frames(recording: Path, jfr: str) -> tuple[int, Counter[str]]:
    """(samples, samples per top frame) of the JFR recording's jdk.ExecutionSample events."""
    printed = subprocess.run(
        [jfr, "print", "--events", "jdk.ExecutionSample", str(recording)], capture_output=True, check=False
    ).stdout.decode(errors="replace")
    top: Counter[str] = Counter()
    total = 0
    for event in printed.split("jdk.ExecutionSample")[1:]:
        match = re.search(r"stackTrace = \[\s*\n\s*(.+?)\s*\n", event)
        if match:
            total += 1
            top[re.sub(r"\s+line:.*", "", match.group(1)).strip()] += 1
    return total, top


#: Entry points every sample of a service passes through: they say nothing.
_ENTRY_POINTS = ("main (", "<module> (", "run_service (")


def _is_ours(frame: str) -> bool:
    """A frame of the project's own code (services/, shared/), other than the entry points."""
    return ("services/" in frame or "shared/" in frame) and not frame.startswith(_ENTRY_POINTS)


def _short(frame: str) -> str:
    # py-spy's "function (path/to/module.py:line)": keep the function and the file's last two parts.
    match = re.match(r"(.*) \((.*):\d+\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    return f"{function} ({'/'.join(Path(path).parts[-2:])})"


@app.command()
def summarise(folder: Path, top: int = TOP) -> None:
    """Write (and print) `summary.md`: the top frames of each profile in `folder`."""
    lines = []
    for collapsed in sorted(folder.glob("*.txt")):
        if collapsed.name.endswith("-threads.txt"):
            continue
        total, own, inclusive = top_frames(collapsed)
        if not total:
            continue
        lines += [f"### {collapsed.stem} ({total} samples)", "", "| own % | frame |", "|---:|---|"]
        lines += [f"| {100 * n / total:.1f} | `{name}` |" for name, n in own.most_common(top)]
        lines += ["", "| inclusive % | project function (samples under it) |", "|---:|---|"]
        lines += [f"| {100 * n / total:.1f} | `{name}` |" for name, n in inclusive.most_common(top)]
        lines.append("")
    for recording in sorted(folder.glob("broker-*.jfr")):
        pid = recording.stem.split("-")[1]
        jfr = str(Path(os.path.realpath(f"/proc/{pid}/exe")).parent / "jfr")
        if not Path(jfr).exists():
            jfr = "jfr"
        total, frames = jfr_top_frames(recording, jfr)
        lines += [f"### {recording.stem} ({total} execution samples)", "", "| % | top frame |", "|---:|---|"]
        lines += [f"| {100 * n / total:.1f} | `{name}` |" for name, n in frames.most_common(top)]
        lines.append("")
    text = "\n".join(lines)
    (folder / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    app()
