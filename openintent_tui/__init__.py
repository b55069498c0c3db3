"""openintent-tui: the keyboard-driven operations console for OpenIntent servers."""
