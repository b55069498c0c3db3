"""`Store`: the whole persistence contract, assembled from one abstract part per resource.

An `abc.ABC` (not a Protocol) because Litestar validates injected values with isinstance.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from .attachments import AttachmentStore
from .costs import CostStore
from .events import EventStore
from .federation import FederationOutbox, FederationStore
from .governance import GovernanceStore
from .intents import IntentStore
from .leases import LeaseStore
from .oap import OapStore
from .portfolios import PortfolioStore
from .retries import RetryStore
from .subscriptions import SubscriptionStore


class Store(
    IntentStore,
    EventStore,
    LeaseStore,
    GovernanceStore,
    SubscriptionStore,
    AttachmentStore,
    CostStore,
    RetryStore,
    PortfolioStore,
    FederationStore,
    FederationOutbox,
    OapStore,
):
    INPUT_REFUSALS: ClassVar[Mapping[type[Exception], str]] = {}
    """The database's own refusals that are the client's input, not a failure of the server,
    with what to tell the client: the app answers them 400 (`backend/errors.py`)."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Finish every queued write, then release the database."""
