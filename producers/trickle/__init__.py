"""A live trickle of the present through the partner gateway, for demos and dashboards.

`tatawwu trickle` (and `make demo`, supervised beside the platform) opens the day (a few
partner organisations, a campaign in every municipality, today's shifts and the
volunteers already on site), then posts a few facts a second as those organisations
would: registrations, sign-ups, check-ins, check-outs after a shift and verified hours,
so the read models, the dashboard's live panels and the notifications move while someone
watches. `world.py` is the pure part; `run.py` the gateway client.
"""

from producers.trickle.run import TrickleStats, run_trickle, wait_for_gateway
from producers.trickle.world import LiveWorld, org_of

__all__ = ["LiveWorld", "TrickleStats", "org_of", "run_trickle", "wait_for_gateway"]
