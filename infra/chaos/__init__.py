"""The chaos run: the site on three Kafka brokers and PostgreSQL, under load, while its processes
are killed and its servers stopped one fault after another; then the promise is checked.

The promise: an upload answered `202` ends `done`, with exactly one set of renditions, and nothing
stays `queued` or `processing`. `make chaos` runs the full plan (`python -m infra.chaos`);
tests/system/test_chaos.py runs a short one with the same code. See docs/reliability.md.

Modules: `plan` (the parameters), `site` (the stack under test and its supervisor thread), `load`
(uploads through the public API), `faults` (what is injected, and how long recovery took),
`invariants` (the checks, read from storage, the database and the topics), `report` (the tables),
`run` (the sequence).
"""
