"""The one polling helper of the tests: what it returns, and how it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.eventually import eventually, eventually_async


def counting_up() -> Iterator[int]:
    yield from range(100)


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, [], ["ready"]])
    assert eventually(lambda: next(values), interval=0) == ["ready"]


def test_until_judges_the_value_and_the_value_is_returned() -> None:
    counter = counting_up()
    assert eventually(lambda: next(counter), until=lambda n: n >= 3, interval=0) == 3


def test_fails_with_what_was_awaited_and_the_last_value_seen() -> None:
    counter = counting_up()
    with pytest.raises(pytest.fail.Exception) as failure:
        eventually(
            lambda: next(counter), until=lambda n: n > 1000, timeout=0.05, interval=0.01, what="a big n"
        )
    message = str(failure.value)
    assert message.startswith("not within 0.05 s: a big n; last seen: ")
    assert int(message.rsplit(": ", 1)[1]) > 0


def test_ignored_exceptions_count_as_not_yet_and_show_as_the_last_value() -> None:
    def flaky() -> str:
        raise ConnectionError("refused")

    with pytest.raises(pytest.fail.Exception, match=r"last seen: ConnectionError\('refused'\)"):
        eventually(flaky, timeout=0.02, interval=0.01, ignoring=(ConnectionError,))


def test_other_exceptions_fail_at_once() -> None:
    calls: list[int] = []

    def broken() -> int:
        calls.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        eventually(broken, ignoring=(ConnectionError,))
    assert calls == [1]


def test_the_async_form_awaits_the_condition() -> None:
    values = iter([0, 0, 7])

    async def condition() -> int:
        await asyncio.sleep(0)
        return next(values)

    assert asyncio.run(eventually_async(condition, interval=0)) == 7


def test_the_async_form_fails_like_the_other() -> None:
    async def never() -> bool:
        return False

    with pytest.raises(pytest.fail.Exception, match=r"not within 0.01 s: never; last seen: False"):
        asyncio.run(eventually_async(never, timeout=0.01, interval=0.005))
