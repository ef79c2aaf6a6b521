"""The ASGI entry point for uvicorn: the read API over the projectors' own schemas."""

from __future__ import annotations

from consumers.api.app import create_app
from infra.settings import get_settings

app = create_app(get_settings(), tune_collector=True)
