"""Size and range limits of request fields: one definition, checked when a body is decoded
(on both request paths) and published in the OpenAPI document.

Together with the page caps (`MAX_PAGE`) they bound what one list response can hold; JSON
objects a client owns (state, payload, metadata, constraints, context) are bounded by the
body limit (`max_body_bytes`) and the nesting limit (`max_json_depth`) instead.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1
"""SQLite stores signed 64-bit integers; no integer outside them is accepted."""

MAX_ID_CHARS = 200
"""Ids a client names: intent, lease, parent, dependency, arbitration, trace, event ids."""
MAX_AGENT_ID_CHARS = 200
"""Agent ids and other actors: created_by, agent_id, actor, decided_by, subscriber_id..."""
MAX_NAME_CHARS = 200
"""Short names: event types, statuses, roles, scopes, decision and cost types, units."""
MAX_TITLE_CHARS = 1_000
"""Intent titles, portfolio names, option labels."""
MAX_TEXT_CHARS = 20_000
"""Descriptions, reasons, rationale, outcomes, error messages."""
MAX_URL_CHARS = 2_048
MAX_LIST_ITEMS = 1_000
"""Lists in a request: patches, depends_on, event_types, options, evidence."""
MAX_PAGE = 1_000
"""Largest `limit` of any list endpoint (400 beyond)."""

Int64 = Annotated[int, msgspec.Meta(ge=MIN_INT64, le=MAX_INT64)]
Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
RequiredId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
AgentId = Annotated[str, msgspec.Meta(max_length=MAX_AGENT_ID_CHARS)]
Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)]
Title = Annotated[str, msgspec.Meta(max_length=MAX_TITLE_CHARS)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_CHARS)]
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL_CHARS)]
Timestamp = Annotated[str, msgspec.Meta(max_length=64)]
"""ISO 8601 text; parsed by the handler."""
