"""Run one of Kafka's command-line tools (`kafka-topics`, `kafka-console-producer`, ...) from the
cached jars, as the distribution's `bin/kafka-*.sh` scripts do.

The wrappers in `infra/kafka/bin/` call `python -m infra.local.kafka_tool <tool> <args>`, so the
tutorial's commands work without a Kafka tarball: the jars are fetched once, like for `make run`.
"""

from __future__ import annotations

import os
import sys

from infra.local.kafka import CONSOLE_TOOLS, console_tool_argv, ensure_kafka_jars
from shared.settings import STATE_DIR


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in CONSOLE_TOOLS:
        print(f"usage: kafka_tool {{{','.join(sorted(CONSOLE_TOOLS))}}} [args...]", file=sys.stderr)
        return 2
    tool, args = argv[0], argv[1:]
    jars = ensure_kafka_jars(STATE_DIR / "cache")
    command = console_tool_argv(jars, CONSOLE_TOOLS[tool], args)
    # Replace this process: signals (Ctrl-C ends the console producer) and the exit code are the tool's.
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
