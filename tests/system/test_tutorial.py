"""The README's "Tutorial: utmost basics", run exactly as written with the wrappers in infra/kafka/bin."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass, field

import pytest

from infra.local.stack import REPO_ROOT, LocalStack

README_BOOTSTRAP = "127.0.0.1:9092"


@dataclass
class Step:
    """One `$ command` of the transcript: what is typed into it (`>` lines) and what it prints."""

    command: str
    typed: list[str] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)


def tutorial_steps() -> list[Step]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Tutorial: utmost basics", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block, "the tutorial section has no bash block"
    steps: list[Step] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            steps.append(Step(line[2:]))
        elif line.startswith(">"):
            steps[-1].typed.append(line[1:])
        elif line:
            steps[-1].printed.append(line)
    return steps


def run_step(step: Step, env: dict[str, str], bootstrap: str) -> None:
    command = step.command.replace(README_BOOTSTRAP, bootstrap)
    if command.startswith("export PATH="):
        env["PATH"] = f"{REPO_ROOT / 'infra' / 'kafka' / 'bin'}:{env['PATH']}"
        return
    if step.printed and step.printed[-1].startswith("^C"):
        run_until_interrupted(command, step, env)
        return
    result = subprocess.run(
        command,
        shell=True,
        input="".join(line + "\n" for line in step.typed),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    if not step.typed:  # an interactive tool's prompts are not part of the transcript
        assert result.stdout.splitlines() == step.printed, result.stdout


def as_a_terminal_starts_it() -> None:
    """In the child, before it runs the command: Ctrl-C's default action, as a terminal's job gets.

    An interactive shell starts every foreground job with SIGINT at its default. This process may
    not have it: a POSIX shell ignores SIGINT for the commands it starts in the background (`make test
    &` in a script), the ignore is inherited across fork and exec, and the JVM keeps a SIGINT that is
    ignored at its start ignored, so the console consumer would never see the test's Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_until_interrupted(command: str, step: Step, env: dict[str, str]) -> None:
    """A reader's session that ends with Ctrl-C: wait for the expected lines, then send SIGINT."""
    expected = step.printed[:-1]
    process = subprocess.Popen(
        command,
        shell=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        start_new_session=True,
        # It only sets a disposition (no locks, no imports): safe in the child even with threads about.
        preexec_fn=as_a_terminal_starts_it,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while len(seen) < len(expected):
            line = process.stdout.readline()
            if not line:
                pytest.fail(f"{command} ended after {seen}: {process.stderr.read()}")
            seen.append(line.rstrip("\n"))
        assert seen == expected
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert step.printed[-1].removeprefix("^C") in stderr


def test_readme_tutorial_creates_writes_and_reads_a_topic(stack: LocalStack) -> None:
    steps = tutorial_steps()
    assert [s.command.split()[0] for s in steps] == [
        "export",
        "kafka-topics",
        "kafka-console-producer",
        "kafka-console-consumer",
    ]
    env = dict(os.environ)
    for step in steps:
        run_step(step, env, stack.config.kafka.bootstrap_servers)
