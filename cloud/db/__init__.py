"""The database: engine and sessions, the tables, their migrations, and the one bulk write path."""
