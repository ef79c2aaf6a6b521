"""The `organizations` read model: partner organisations and sectors, and what they achieved."""

from consumers.organizations.projector import PROJECTOR
from consumers.organizations.rules import earliest_launches, fold_organization

__all__ = ["PROJECTOR", "earliest_launches", "fold_organization"]
