"""An HTTP proxy on loopback in front of an S3-compatible server (moto) that
breaks a share of the exchanges the way networks and S3 do:

  503      SlowDown, before the request reaches the server
  500      InternalError, before the request reaches the server
  reset    the connection dropped before the request reaches the server
  lost     the server carries the request out, the answer is dropped
  cut      the answer's headers and half its body, then the connection drops
  stall    2 s of silence, then the answer

usage: python3 faults.py UPSTREAM_PORT RATE SEED [KINDS [SUBSTR:COUNT]]
Prints the port it listens on, then serves until killed. KINDS is a
comma-separated subset of the above (default: all); SUBSTR:COUNT breaks
only the first COUNT requests whose method and path contain SUBSTR (e.g.
`PUT /lake/x/_traillake/lease/all.json:1`). Every exchange is
decided by one seeded random draw, so a run is reproducible given the same
sequence of requests.
"""

import http.client
import http.server
import random
import socket
import struct
import sys
import threading
import time

ALL = ["503", "500", "reset", "lost", "cut", "stall"]
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def main():
    upstream_port = int(sys.argv[1])
    rate = float(sys.argv[2])
    rng = random.Random(int(sys.argv[3]))
    kinds = sys.argv[4].split(",") if len(sys.argv) > 4 and sys.argv[4] else ALL
    only, left = None, [0]
    if len(sys.argv) > 5:
        only, n = sys.argv[5].rsplit(":", 1)
        left[0] = int(n)
    lock = threading.Lock()
    counts = {k: 0 for k in ALL}

    def draw(request):
        with lock:
            if only is not None:
                if only not in request or left[0] == 0:
                    return None
                left[0] -= 1
            if rng.random() >= rate:
                return None
            kind = rng.choice(kinds)
            counts[kind] += 1
            return kind

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def drop(self):
            # RST rather than FIN: a reset, as a broken network gives.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.close_connection = True
            self.connection.close()

        def error(self, status, code):
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>injected</Message></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            fault = draw(f"{self.command} {self.path}")
            if fault == "503":
                return self.error(503, "SlowDown")
            if fault == "500":
                return self.error(500, "InternalError")
            if fault == "reset":
                return self.drop()
            if fault == "stall":
                time.sleep(2)
            conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if body is not None:
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if fault == "lost":
                return self.drop()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header(
                    "Content-Length", resp.getheader("Content-Length") or "0"
                )
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if fault == "cut" and len(data) > 1:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                return self.drop()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    finally:
        print(counts, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
