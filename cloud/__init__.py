"""The cloud hub: FastAPI + SQLAlchemy, ingest of edge events, the business."""
