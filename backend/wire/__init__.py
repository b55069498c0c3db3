"""Every JSON shape on the wire, as msgspec Structs: one definition for server and client."""
