from burntbeats.cli import app

app()
