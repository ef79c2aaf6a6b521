"""The `campaigns` read model: campaigns, opportunities and who took part in them."""

from consumers.campaigns.projector import PROJECTOR

__all__ = ["PROJECTOR"]
