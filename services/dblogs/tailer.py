"""Follows every log file in a folder (the server rotates them) and hands back whole new lines.

Positions are saved after each batch is published, so a restarted shipper resumes where it left
off: at-least-once, like every consumer of the system (a line may be shipped twice, never lost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FolderTailer:
    folder: Path
    pattern: str
    positions_file: Path
    #: Bytes read per file and call, so one huge file cannot starve the others.
    max_bytes: int = 1024 * 1024
    positions: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.positions_file.is_file():
            self.positions = {str(k): int(v) for k, v in json.loads(self.positions_file.read_text()).items()}

    def read_new_lines(self) -> tuple[list[str], dict[str, int]]:
        """Complete lines written since the last `commit`, and the positions to commit after them."""
        lines: list[str] = []
        advanced = dict(self.positions)
        for path in sorted(self.folder.glob(self.pattern)):
            start = self.positions.get(path.name, 0)
            if path.stat().st_size < start:
                start = 0  # truncated or replaced under the same name: read it again
            with path.open("rb") as file:
                file.seek(start)
                chunk = file.read(self.max_bytes)
            # Only up to the last newline: the server may be half-way through writing a line.
            complete = chunk[: chunk.rfind(b"\n") + 1]
            lines += complete.decode("utf-8", errors="replace").splitlines()
            advanced[path.name] = start + len(complete)
        return lines, advanced

    def commit(self, positions: dict[str, int]) -> None:
        # Files that rotated away are forgotten, so the positions file does not grow forever.
        present = {path.name for path in self.folder.glob(self.pattern)}
        self.positions = {name: offset for name, offset in positions.items() if name in present}
        self.positions_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.positions_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.positions))
        temporary.replace(self.positions_file)
