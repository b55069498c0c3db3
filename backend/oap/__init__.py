"""OAP-compatible agent routing: a registry of HTTP agents, OAP's keyword router, and chains
of hops on an intent that are checkpointed after every hop and survive a restart.

OAP's wire behaviour (spec/oap.md §1-§4) is reproduced exactly; persistence, events and the
egress guard are ours (§8)."""
