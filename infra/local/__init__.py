"""Runners for the local stack: Kafka from Maven Central jars, PostgreSQL from Debian's binaries."""
