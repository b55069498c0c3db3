"""Workflows: the SDK's workflow YAML run by the server, phases optionally on peers."""
