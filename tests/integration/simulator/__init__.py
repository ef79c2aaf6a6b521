"""The simulator against the real Kafka broker."""
