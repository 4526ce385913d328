"""Monitoring: the operator's view of which services run and what the system gave up on."""
