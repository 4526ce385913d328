"""Jars from Maven Central, fetched once into a cache folder with `mvn dependency:copy-dependencies`.

A folder is complete once it holds a marker with the digest of its pom, so an interrupted download,
or an edited pom, fetches again.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path


def maven_dependencies(pom: Path, folder: Path, what: str, *mvn_options: str) -> Path:
    """`folder`, holding the dependencies of `pom` (fetched now unless already complete)."""
    marker = folder / ".complete"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if marker.is_file() and marker.read_text() == digest:
        return folder
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError(f"Maven ('mvn') is needed once, to download {what}; please install it")
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"Downloading {what} from Maven Central (once) into {folder}", file=sys.stderr)
    result = subprocess.run(
        [
            mvn,
            "--batch-mode",
            "--quiet",
            "-Dstyle.color=never",
            "--file",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
            *mvn_options,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        # Debian's Maven colours its output even in batch mode; the escapes only obscure the message.
        output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr).strip()[-4000:]
        raise RuntimeError(f"downloading {what} with Maven failed ({result.returncode}):\n{output}")
    (partial / ".complete").write_text(digest)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder
