"""What an empty server says on the intents list: how to get something to look at, where the
key is, and how an agent connects (a snippet `y` copies)."""

from __future__ import annotations

from pathlib import Path

from backend.settings import GENERATED_KEY_FILE, data_dir


def key_file() -> str:
    """Where the bundled server keeps its generated key, with the home directory as `~`."""
    path = data_dir() / GENERATED_KEY_FILE
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def sdk_snippet(url: str) -> str:
    return (
        "import os\n"
        "from openintent import OpenIntentClient  # pip install openintent\n"
        "\n"
        "client = OpenIntentClient(\n"
        f'    base_url="{url}",\n'
        '    api_key=os.environ["OPENINTENT_API_KEY"],\n'
        '    agent_id="my-agent",\n'
        ")\n"
        'client.create_intent(title="My first intent")\n'
    )


def first_run_text(url: str) -> str:
    snippet = "\n".join(f"      {line}" for line in sdk_snippet(url).splitlines())
    return (
        "No intents yet. What to do next:\n"
        "\n"
        "  · openintent-tui --demo   a throwaway workspace with simulated agents to look at\n"
        f"  · the API key: {key_file()} (the bundled server's), or $OPENINTENT_API_KEY\n"
        "  · connect an agent with the official SDK; y copies this snippet:\n"
        "\n"
        f"{snippet}\n"
        "\n"
        "  Intents appear here live as agents create them."
    )
