"""Mutated JPEG, PNG, GIF, WebP and MP4 files through the API: a short run of `make fuzz`'s cases.

Every answer is a 202 or a 4xx with a sentence, every accepted upload ends done or failed with a
reason, and no service dies. The long run (`make fuzz`, 10,000 cases) prints the figures recorded in
docs/reliability.md.
"""

from __future__ import annotations

import os

from infra.fuzz.run import FuzzRun
from tests.system.conftest import Site

CASES = int(os.environ.get("FUZZ_FILE_CASES", "40"))


def test_mutated_media_never_breaks_the_promise(small_site: Site) -> None:
    other = small_site.another_user()  # a fresh user: its quota and listing hold only these cases
    report = FuzzRun(other.http, small_site.stack).run(CASES, wait_s=120, seed=1)
    assert report.cases == CASES
    assert report.bad_answers == []
    assert report.stuck == []
    assert report.dead_services == []
    # The run is worth its time only if both doors were tried: refused at the door and accepted.
    assert report.answers[202] > 0
    assert sum(n for code, n in report.answers.items() if 400 <= code < 500) > 0
