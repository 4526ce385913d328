"""Simulated users of the site, talking only to its public HTTP API (`reencode simulate`)."""
