"""The trigger deferred Batch tasks wait on, and the poll loop they share."""
