"""The public HTTP API, one module per resource. Paths are stable: scripts depend on them."""
