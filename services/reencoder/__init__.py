"""The re-encoding worker: turns uploaded originals into renditions."""
