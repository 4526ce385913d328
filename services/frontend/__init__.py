"""The web frontend: upload page, public JSON API, and the recorder of job status."""
