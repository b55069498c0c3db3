"""Top-level views. Each asks the client through workers and renders with widgets."""
