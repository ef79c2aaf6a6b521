"""Everything that reads events: the projector runtime, the read models, notifications, the read API."""
