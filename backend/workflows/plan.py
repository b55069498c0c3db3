"""A workflow document (the SDK's `WorkflowSpec` shape) checked and ordered into a plan.

The SDK's rules: `assign` is required, a title defaults to the phase name with `_` as spaces,
title-cased, and `depends_on` names phases by name or by title. Ours: a dependency must exist
and there must be no cycle (400 otherwise; the SDK would only find out when running), phase
`constraints` (a list of rules) become the intent's `constraints.rules`, and `dispatch_to` is
a URL, or the `did` pinned on a configured peer that has a URL (resolved to that URL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ..domain.delegation import DelegationError, normalize_scope
from ..domain.errors import InvalidInput
from ..store.federation import PhasePlan, WorkflowPlan
from ..wire.workflows import WorkflowDocument, WorkflowPhase


def default_title(name: str) -> str:
    return name.replace("_", " ").title()


def _field_error(name: str, field: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"Phase {name!r}: {message}", errors=[{"field": f"workflow.{name}.{field}"}]
    )


def _dependencies(document: WorkflowDocument) -> dict[str, list[str]]:
    phases = document.workflow
    by_title = {(p.title or default_title(n)): n for n, p in phases.items()}
    needs: dict[str, list[str]] = {}
    for name, phase in phases.items():
        found = []
        for ref in phase.depends_on:
            target = ref if ref in phases else by_title.get(ref)
            if target is None:
                raise _field_error(name, "depends_on", f"depends on {ref!r}, which is no phase")
            if target == name:
                raise _field_error(name, "depends_on", "depends on itself")
            found.append(target)
        needs[name] = list(dict.fromkeys(found))
    return needs


def _ordered(needs: dict[str, list[str]]) -> list[str]:
    """Phases after everything they depend on, otherwise in document order."""
    order: list[str] = []
    placed: set[str] = set()
    remaining = list(needs)
    while remaining:
        ready = [n for n in remaining if all(d in placed for d in needs[n])]
        if not ready:
            raise InvalidInput(
                f"The phases {', '.join(sorted(remaining))} depend on each other in a cycle",
                errors=[{"field": "workflow"}],
            )
        order += ready
        placed.update(ready)
        remaining = [n for n in remaining if n not in placed]
    return order


def _scope(name: str, phase: WorkflowPhase) -> dict[str, Any] | None:
    if phase.delegation_scope is None:
        return None
    try:
        return normalize_scope(msgspec.to_builtins(phase.delegation_scope))
    except DelegationError as exc:
        raise _field_error(name, "delegation_scope", str(exc)) from None


def build_plan(
    document: WorkflowDocument, resolve_peer: Callable[[str], str] | None
) -> WorkflowPlan:
    """`resolve_peer(dispatch_to)` returns the peer URL or raises InvalidInput; None when
    federation is off (a `dispatch_to` phase is then a 400)."""
    needs = _dependencies(document)
    order = _ordered(needs)
    position = {name: i for i, name in enumerate(order)}
    phases = []
    for name in order:
        phase = document.workflow[name]
        target = None
        if phase.dispatch_to is not None:
            if resolve_peer is None:
                raise _field_error(name, "dispatch_to", "federation is not enabled on this server")
            target = resolve_peer(phase.dispatch_to)
        phases.append(
            PhasePlan(
                name=name,
                title=phase.title or default_title(name),
                description=phase.description,
                assign=phase.assign,
                depends_on=[position[d] for d in needs[name]],
                constraints={"rules": phase.constraints} if phase.constraints else {},
                state=phase.initial_state,
                dispatch_to=target,
                delegation_scope=_scope(name, phase),
                federation_visibility=phase.federation_visibility,
            )
        )
    return WorkflowPlan(
        name=document.info.name, description=document.info.description, phases=phases
    )
