"""A miner written for bittensor SDK 11: stdlib HTTP, every request checked with
`bittensor.http_auth.verify`, a fixed WAV file as the answer to `POST /tts`.

Usage: python bt11_tts_server.py SELF_HOTKEY_SS58 WAV_PATH

Prints `LISTENING <port>` once bound (127.0.0.1, a free port), then one line per request:
`ACCEPTED <caller ss58>` or `REFUSED <SDK exception name>` (or `NOT_FOUND <path>`).
"""

import http.server
import json
import sys
import wave

import bittensor as bt
from bittensor import http_auth

SELF = sys.argv[1]
WAV = open(sys.argv[2], "rb").read()
with wave.open(sys.argv[2], "rb") as w:
    RATE = w.getframerate()
STORE = http_auth.InMemoryNonceStore()


def say(line):
    print(line, flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.path.split("?")[0] != "/tts":
            say(f"NOT_FOUND {self.path}")
            self.reply(404, b'{"error": "not found"}', "application/json")
            return
        try:
            caller = http_auth.verify(
                dict(self.headers.items()),
                body,
                method="POST",
                path=self.path,
                self_hotkey_ss58=SELF,
                nonce_store=STORE,
            )
        except http_auth.AuthError as e:
            say(f"REFUSED {type(e).__name__}")
            self.reply(401, json.dumps({"error": type(e).__name__}).encode(), "application/json")
            return
        request = json.loads(body)
        assert request["text"].strip(), "the validator sends its prompt"
        say(f"ACCEPTED {caller.hotkey_ss58}")
        self.reply(
            200,
            WAV,
            "audio/wav",
            [("X-Audio-Sample-Rate", str(RATE)), ("X-Audio-Model", "python-sdk11"),
             ("X-Audio-Encoding", "wav")],
        )


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
say(f"LISTENING {server.server_address[1]} bittensor {bt.__version__}")
server.serve_forever()
