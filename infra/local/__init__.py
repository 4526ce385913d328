"""Real servers (Kafka, MinIO, PostgreSQL) as child processes on 127.0.0.1, for local runs and tests."""
