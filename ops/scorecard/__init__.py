"""The resilience scorecard: each target's objectives against what drills measured in the report history.

Only a measurement is evidence: a drill of the env (its account and region) that passed or failed with the
figure recorded, newer than the policy's `evidence_max_age_days` and not from the future. A figure marked
"not measured", an error, inconclusive or aborted drill, or no drill at all proves nothing, and the objective
is Unproven; a downtime that is only a lower bound proves a breach or nothing. One measurement over its
objective is PolicyBreached whatever the drill's verdict; within it, PolicyMet needs `min_evidence_drills`
measurements and a passing drill among them. `build_scorecard` reads and judges, prints and writes nothing;
`to_report` makes the report it is kept as (`dbops scorecard --keep`), and the next scorecard's drift is
measured against the newest one kept.
"""

from ops.scorecard.card import build_scorecard, drift, exit_code, summary
from ops.scorecard.judge import (AVAILABILITY, BREACHED, KIND, MET, MINUTES_PER_YEAR, NOT_MEASURED, OBJECTIVES, STATUSES,
                                 UNPROVEN, budget_minutes)
from ops.scorecard.render import render_junit, render_markdown, to_report

__all__ = ["AVAILABILITY", "BREACHED", "KIND", "MET", "MINUTES_PER_YEAR", "NOT_MEASURED", "OBJECTIVES", "STATUSES", "UNPROVEN",
           "budget_minutes", "build_scorecard", "drift", "exit_code", "render_junit", "render_markdown", "summary", "to_report"]
