"""OAP's keyword router (spec/oap.md §2): a capability scores when it appears in the
lower-cased goal as a whole word or phrase; the single best score wins, a tie is an error."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..domain.errors import Conflict, DomainError


class NoMatch(DomainError):
    status_code = 422


class Ambiguous(Conflict):
    pass


def keyword_scores(goal: str, capabilities: Mapping[str, Sequence[str]]) -> dict[str, int]:
    lowered = goal.lower()
    return {
        agent_id: sum(1 for cap in caps if re.search(rf"\b{re.escape(cap)}\b", lowered))
        for agent_id, caps in capabilities.items()
    }


def select_by_keyword(
    goal: str, capabilities: Mapping[str, Sequence[str]]
) -> tuple[str, dict[str, int]]:
    """(agent, scores), or NoMatch (422) / Ambiguous (409) with OAP's own messages."""
    scores = keyword_scores(goal, capabilities)
    if not scores:
        raise NoMatch("No agents are registered.", scores=scores)
    best = max(scores.values())
    if best == 0:
        raise NoMatch(f"No agent matched the goal: {goal!r}", scores=scores)
    winners = [agent_id for agent_id, score in scores.items() if score == best]
    if len(winners) > 1:
        raise Ambiguous(
            f"Ambiguous routing for goal: {goal!r}. Tied agents: {winners}"
            " (pin the first agent to disambiguate)",
            tied=winners,
            scores=scores,
        )
    return winners[0], scores
