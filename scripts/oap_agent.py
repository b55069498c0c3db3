"""A minimal OAP agent (Open Agent Protocol 0.3.0's HTTP contract), standard library only:
`GET /` describes it, `POST /invoke` takes a TaskEnvelope and answers
`{"result", "memory", "handoff"?}`. Both `oap` (OAP's own CLI) and `openintent-tui` can
register and chain it.

    python scripts/oap_agent.py --id researcher --port 9001 -c research,search --handoff writer
    python scripts/oap_agent.py --id writer --port 9002 -c write
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser(description="A minimal OAP agent")
    parser.add_argument("--id", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-c", "--capabilities", default="")
    parser.add_argument("--handoff", help="hand every task on to this agent")
    args = parser.parse_args()
    caps = [c.strip() for c in args.capabilities.split(",") if c.strip()]

    class Agent(BaseHTTPRequestHandler):
        def _answer(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(
                {"agent_id": args.id, "capabilities": caps, "description": "", "status": "ok"}
            )

        def do_POST(self) -> None:
            envelope = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer: dict = {
                "result": f"{args.id} handled {envelope['goal']!r}",
                "memory": {args.id: len(envelope["steps_taken"]) + 1},
            }
            if args.handoff:
                answer["handoff"] = {"next_agent": args.handoff, "reason": f"{args.id} is done"}
            self._answer(answer)

    ThreadingHTTPServer(("127.0.0.1", args.port), Agent).serve_forever()


if __name__ == "__main__":
    main()
