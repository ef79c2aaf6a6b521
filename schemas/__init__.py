"""The event contract: envelope, event catalog, topics, versioning. No I/O."""
