"""Dialogs that end in `dismiss(result)`: confirm, pick one of a few, rationale, lease grant,
revoke."""
