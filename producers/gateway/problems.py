"""The gateway's errors: the shared RFC 9457 problem (`infra.problems`), re-exported.

Kept as the gateway's own import path so that its modules say `problems.Problem`.
"""

from __future__ import annotations

from infra.problems import MEDIA_TYPE, TYPE_BASE, Problem, generic

__all__ = ["MEDIA_TYPE", "TYPE_BASE", "Problem", "generic"]
