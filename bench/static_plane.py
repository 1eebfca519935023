#!/usr/bin/env python3
"""A static stand-in for Plane's API, for benchmarks: serves pre-rendered response bodies (captured
once from the simulator) so that what a benchmark measures is the client, not the simulator's
rendering. Python stdlib only; loopback only.

    python3 bench/static_plane.py --pages pages.json --port-file F [--api-key KEY] [--parent-pid PID]

pages.json: {"<path>?<query>": "<body>", ...}. A GET is answered by its path and query, with the
query's parameters decoded and sorted (so `cursor=100%3A1%3A0&per_page=100` and
`per_page=100&cursor=100:1:0` are the same page): 200 with the stored body, 404 when there is none,
401/403 without or with another X-API-Key. HTTP/1.1 keep-alive, Nagle off, and each response goes
out in one write (status line, headers and body pre-encoded at start-up).

    GET /_static/stats          {"requests", "served", "missing", "bytes"}
    POST /_static/stats/reset
"""
import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


def canonical(target):
    """'<path>?<sorted decoded query>' of a request target (or of a URL's path and query)."""
    parts = urlsplit(target)
    query = sorted(parse_qsl(parts.query, keep_blank_values=True))
    return parts.path + "?" + "&".join(f"{k}={v}" for k, v in query)


def response_bytes(status, reason, body):
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
    return head + body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        srv = self.server
        if self.path.startswith("/_static/stats"):
            with srv.lock:
                body = json.dumps(srv.stats).encode()
            self.wfile.write(response_bytes(200, "OK", body))
            return
        key = self.headers.get("X-API-Key")
        if srv.api_key and key != srv.api_key:
            status = 401 if not key else 403
            self.wfile.write(response_bytes(status, "Unauthorized",
                                            b'{"detail":"Given API token is not valid"}'))
            return
        resp = srv.pages.get(canonical(self.path))
        with srv.lock:
            srv.stats["requests"] += 1
            if resp is None:
                srv.stats["missing"] += 1
            else:
                srv.stats["served"] += 1
                srv.stats["bytes"] += len(resp)
        self.wfile.write(resp if resp is not None else srv.not_found)

    def do_POST(self):
        srv = self.server
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/_static/stats/reset"):
            with srv.lock:
                srv.stats = dict.fromkeys(srv.stats, 0)
            self.wfile.write(response_bytes(200, "OK", b"{}"))
        else:
            self.wfile.write(srv.not_found)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--api-key")
    ap.add_argument("--parent-pid", type=int)
    args = ap.parse_args(argv)

    with open(args.pages, encoding="utf-8") as f:
        bodies = json.load(f)
    httpd = Server(("127.0.0.1", args.port), Handler)
    httpd.pages = {canonical(k): response_bytes(200, "OK", v.encode("utf-8")) for k, v in bodies.items()}
    httpd.not_found = response_bytes(404, "Not Found", b'{"detail":"Not found."}')
    httpd.api_key = args.api_key
    httpd.lock = threading.Lock()
    httpd.stats = {"requests": 0, "served": 0, "missing": 0, "bytes": 0}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if args.port_file:
        tmp = f"{args.port_file}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(f"{httpd.server_address[1]}\n")
        os.replace(tmp, args.port_file)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        if args.parent_pid:
            try:
                os.kill(args.parent_pid, 0)
            except ProcessLookupError:
                break
    httpd.shutdown()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
