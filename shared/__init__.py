"""The library every reencode service imports: events, Kafka helpers, settings, storage, database."""
