"""The national activity simulator: a seeded, deterministic stream of volunteering events.

`run_streamed(SimConfig(...), via=...)` generates a world (organisations, campaigns,
opportunities, volunteers and who did what, at a calibrated national intensity) day by
day, sends it as Kafka records (with optional duplicates, invalid records and reordering)
as it goes and writes the truth every read model must show for it, in flat memory.
`simulate(SimConfig(...))` keeps everything in memory instead (tests, small runs), and
`ground_truth` states the truth of any world model. `tatawwu simulate` is the command line.
"""

from producers.simulator.model import SimConfig, World
from producers.simulator.run import (
    Outcome,
    Simulation,
    StreamOutcome,
    Via,
    run,
    run_streamed,
    simulate,
)
from producers.simulator.truth import ground_truth, write_truth

__all__ = [
    "Outcome",
    "SimConfig",
    "Simulation",
    "StreamOutcome",
    "Via",
    "World",
    "ground_truth",
    "run",
    "run_streamed",
    "simulate",
    "write_truth",
]
