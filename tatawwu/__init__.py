"""The application: the platform manifest, the `tatawwu` CLI, the supervisor, the smoke test.

The composition root. It imports every layer below it (schemas, infra, producers,
consumers); none of them imports it.
"""
