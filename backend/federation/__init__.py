"""Federation (RFC-0022/0023): server identity, signing, configuration, trust, dispatch."""
