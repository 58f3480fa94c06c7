"""Serving the API: worker processes (``serve --workers N``) and a worker's warm-up."""
