"""The partner HTTP gateway: `POST /v1/events` to Kafka, with keys, limits and problem+json.

from producers.gateway import create_app
app = create_app(settings)
"""

from producers.gateway.app import create_app

__all__ = ["create_app"]
