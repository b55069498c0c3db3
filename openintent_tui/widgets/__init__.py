"""Reusable widgets. None of them talks HTTP: screens feed them data."""
