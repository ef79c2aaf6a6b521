"""The `participation` read model: the national 10%-by-2030 KPI and its breakdowns."""

from consumers.participation.projector import PROJECTOR, read_population

__all__ = ["PROJECTOR", "read_population"]
