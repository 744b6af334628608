"""The engine's state: records (models), the in-memory state, the SQLite store and the log store."""
