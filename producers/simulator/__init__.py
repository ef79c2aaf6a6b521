"""The national activity simulator: a seeded, deterministic stream of volunteering events.

`simulate(SimConfig(...))` builds a world (organisations, campaigns, opportunities,
volunteers and who did what), renders it as CloudEvents and as Kafka records (with
optional duplicates, invalid records and reordering), and `ground_truth` states what
every read model must show for it. `tatawwu simulate` is the command-line front.
"""

from producers.simulator.model import SimConfig, World
from producers.simulator.run import Outcome, Simulation, Via, run, simulate
from producers.simulator.truth import ground_truth, write_truth

__all__ = [
    "Outcome",
    "SimConfig",
    "Simulation",
    "Via",
    "World",
    "ground_truth",
    "run",
    "simulate",
    "write_truth",
]
