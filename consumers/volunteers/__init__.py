"""The `volunteers` read model: a directory of volunteers with their activity totals."""

from consumers.volunteers.projector import PROJECTOR
from consumers.volunteers.rules import PROFILE_TYPES, fold_profile

__all__ = ["PROFILE_TYPES", "PROJECTOR", "fold_profile"]
