"""When things run: the daemon's schedule (the pipeline decides what runs)."""
