"""Plumbing shared by producers and consumers: settings, logging, connections, local stack."""
