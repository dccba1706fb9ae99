"""What a receiver of our webhooks does with a request the fake server recorded, and a receiver
that is slow on purpose."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import standardwebhooks


def received_verifies(request, secret) -> bool:
    """Whether the recorded request verifies with `secret`, checked as a receiver checks it: with the
    Standard Webhooks package itself, not our signing code."""
    try:
        standardwebhooks.Webhook(secret).verify(request["body"], request["headers"])
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


class SlowReceiver:
    """A real local HTTP server that is slow on purpose: "late" answers 200 after 2.5 s; "drip_headers"
    sends its status line and headers one byte every 0.3 s; "drip_body" answers 200 at once, then its
    body one byte every 0.3 s (each byte well inside httpx's per-read timeout; 6 to 12 s in all)."""

    def __init__(self, mode):
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests += 1
                try:
                    if mode == "late":
                        time.sleep(2.5)
                        self.send_response(200)
                        self.end_headers()
                        return
                    head = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n"  # 40 bytes: 12 s
                    if mode == "drip_body":
                        self.wfile.write(head)
                        self.wfile.flush()
                    for byte in (head if mode == "drip_headers" else b"y" * 20):
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.3)
                except OSError:  # the client hung up at its deadline
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
