"""What a service is, declared in one place: its name, what it consumes (topic and group), what it
produces and whether it serves HTTP.

The declaration is static data: the heartbeat, the README's service table and the compose checks all
read it without starting anything. The frame (runner.py) runs it, binding each `Consumes` entry to
the handler the service builds at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic

from shared.events import DEAD_LETTERS, LOGS, SERVICE_HEARTBEATS, E, Topic
from shared.kafka.consumer import GiveUpHook, Handler, Route


@dataclass(frozen=True)
class Consumes(Generic[E]):
    """A topic the service reads, and the consumer group it reads it in.

    `group=None` means every instance reads every record (no group: the metrics service's peers'
    snapshots). `batch=True` marks a topic the service reads with its own stream reader rather than
    the frame's one-record-at-a-time consumer loop.

    Entries of one service that name the same group (and commit alike) share one consumer: one
    member of the group, one loop, their records handled one at a time (monitoring's views). An
    entry whose handling must not wait behind another's gets a group of its own (the reencoder's
    jobs, video tasks and completions).
    """

    topic: Topic[E]
    group: str | None
    batch: bool = False
    #: > 0: the consumer loop commits at most this often instead of after every record (see
    #: `EventConsumer`): for views fed from a topic, whose records a crash may redeliver harmlessly.
    commit_every_s: float = 0.0

    def handled_by(self, handler: Handler[E], on_give_up: GiveUpHook[E] | None = None) -> Binding[E]:
        """Bind this entry to the handler that processes its records (typed: topic and handler agree)."""
        if self.batch or self.group is None:
            raise ValueError(f"{self.topic.name} is read by the service's own stream, not by a handler")
        return Binding(self, handler, on_give_up)


@dataclass(frozen=True)
class Binding(Generic[E]):
    """A `Consumes` entry with the handler the frame feeds its records to."""

    entry: Consumes[E]
    handler: Handler[E]
    on_give_up: GiveUpHook[E] | None = None

    @property
    def route(self) -> Route[E]:
        return Route(self.entry.topic, self.handler, self.on_give_up)

    @property
    def consumer_key(self) -> tuple[str | None, float]:
        """Bindings with the same key are read by one consumer."""
        return self.entry.group, self.entry.commit_every_s


def shared_consumers(bindings: list[Binding[Any]]) -> list[list[Binding[Any]]]:
    """The bindings each consumer reads, in declaration order: one consumer per group and commit
    policy (see `Consumes`)."""
    shared: dict[tuple[str | None, float], list[Binding[Any]]] = {}
    for binding in bindings:
        shared.setdefault(binding.consumer_key, []).append(binding)
    return list(shared.values())


@dataclass(frozen=True)
class ServiceDeclaration:
    """One service: what it is called, what it reads and writes, and whether it serves HTTP."""

    name: str
    consumes: tuple[Consumes[Any], ...] = ()
    produces: tuple[Topic[Any], ...] = ()
    #: The service serves HTTP (its port comes from its settings); workers have none.
    http: bool = False
    summary: str = ""

    @property
    def handled(self) -> tuple[Consumes[Any], ...]:
        """The entries the frame's consumer loop runs (each needs a handler at start-up)."""
        return tuple(entry for entry in self.consumes if not entry.batch and entry.group is not None)

    @property
    def groups(self) -> tuple[str, ...]:
        """Consumer groups this service joins, each once, in declaration order."""
        return tuple(dict.fromkeys(entry.group for entry in self.consumes if entry.group is not None))

    @property
    def consumed_topics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(entry.topic.name for entry in self.consumes))

    @property
    def produced_topics(self) -> tuple[str, ...]:
        """What it produces, with what the frame adds: heartbeats and log lines always, dead letters
        whenever it consumes."""
        frame: list[Topic[Any]] = [SERVICE_HEARTBEATS, LOGS]
        if self.handled:
            frame.append(DEAD_LETTERS)
        return tuple(dict.fromkeys(topic.name for topic in (*self.produces, *frame)))

    def check_bindings(self, bindings: list[Binding[Any]]) -> None:
        """Every handled entry is bound exactly once, and nothing undeclared is."""
        bound = [binding.entry for binding in bindings]
        missing = [entry for entry in self.handled if entry not in bound]
        extra = [entry for entry in bound if entry not in self.handled]
        doubled = {entry for entry in bound if bound.count(entry) > 1}
        problems = [
            *(f"no handler for {e.topic.name} in group {e.group}" for e in missing),
            *(f"{e.topic.name} in group {e.group} is not declared" for e in extra),
            *(f"{e.topic.name} in group {e.group} is bound twice" for e in doubled),
        ]
        if problems:
            raise ValueError(f"{self.name}: " + "; ".join(problems))
