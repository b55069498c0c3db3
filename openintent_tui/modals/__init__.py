"""Dialogs that end in `dismiss(result)`: confirm, rationale, lease grant, revoke."""
