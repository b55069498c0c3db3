"""`Store`: the whole persistence contract, assembled from one abstract part per resource.

An `abc.ABC` (not a Protocol) because Litestar validates injected values with isinstance.
"""

from __future__ import annotations

from abc import abstractmethod

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
    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Finish every queued write, then release the database."""
