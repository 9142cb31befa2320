"""The command line (`assistant ...`): ingest, ask, sources, delete, serve, eval, keys."""
