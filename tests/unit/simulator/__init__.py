"""Unit tests of the national activity simulator (no network)."""
