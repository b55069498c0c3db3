"""Everything that leaves the server: the egress guard, webhook signing and delivery."""
