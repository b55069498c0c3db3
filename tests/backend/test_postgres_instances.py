"""Two servers on one PostgreSQL database are one logical server: an SSE client on B
receives, live and in global order, the events written through A and B at once."""

from __future__ import annotations

import threading

from tests.backend.test_streams import comment, new_intent, read_events, stream
from tests.support import run_server


def test_a_stream_on_one_instance_carries_writes_through_both(postgres_url):
    with run_server(postgres_url) as a, run_server(postgres_url) as b:
        with a.client() as on_a, b.client() as on_b:
            intents = [new_intent(on_a, "through A"), new_intent(on_b, "through B")]
            with stream(on_b, "/api/v1/events/stream?since=0") as response:
                assert response.status_code == 200

                def write(client_of, n: int) -> None:
                    with client_of.client() as client:
                        for k in range(15):
                            comment(client, intents[(n + k) % 2], k)

                writers = [
                    threading.Thread(target=write, args=(server, n))
                    for n, server in enumerate((a, b, a, b))
                ]
                for thread in writers:
                    thread.start()
                for thread in writers:
                    thread.join(30)
                total = 2 + 4 * 15
                events = read_events(response, total)
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(1, total + 1))  # every event once, in global order, no gap
