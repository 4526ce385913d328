from infra.local.cli import app

app()
