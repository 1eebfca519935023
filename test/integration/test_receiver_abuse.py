"""The embedded receiver under abuse: slow-loris connections and a flood of oversized bodies from
one address (127.0.0.1) while a second client (127.0.0.2) delivers signed webhooks. The receiver
limits connections per address, gives every request an absolute deadline (libmicrohttpd's own
timeout is an idle one, which a trickle of bytes never reaches), refuses an oversized
Content-Length with 413 before reading the body, and closes the connection after it."""
import hashlib
import hmac
import http.client
import json
import selectors
import socket
import threading
import time
import unittest
import uuid

from harness import MirrorTestCase, free_port, scalar, wait_until

SECRET = "plane_wh_abuse0123456789abcdef0123456789ab"
SLUG = "abuse"
ATTACKER = "127.0.0.1"
GOOD_CLIENT = "127.0.0.2"  # Linux routes all of 127.0.0.0/8 to loopback
MAX_BODY = 64 * 1024       # plane.webhook_max_body_size below
OVERSIZED = 64 * 1024 * 1024


def signed_delivery():
    """A v2 delivery with an event_id of its own (so it is enqueued, never deduplicated)."""
    event_id, delivery_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = json.dumps({"version": "v2", "delivery_id": delivery_id, "event_id": event_id,
                       "entity_id": event_id, "entity_type": "work_item", "event": "work_item.updated",
                       "webhook_id": "wh", "workspace_id": "ws",
                       "data": {"id": event_id, "name": "through the abuse", "project": "p",
                                "updated_at": "2026-01-01T00:00:00Z"},
                       "previous_attributes": {}}).encode()
    return body, {"Content-Type": "application/json", "X-Plane-Delivery": delivery_id,
                  "X-Plane-Event": "work_item", "X-Plane-Signature":
                  hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def p99(values):
    """Nearest-rank 99th percentile."""
    s = sorted(values)
    return s[max(0, -(-99 * len(s) // 100) - 1)]


def read_response_head(sock):
    """Bytes up to the end of the response headers (or whatever came before EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def closed_by_peer(sock):
    """True when the peer has closed: EOF (after any bytes still buffered) or a reset."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class SlowLoris:
    """n connections from ATTACKER, each sending a request line and a header it never finishes,
    one byte per connection every `every` seconds (a rate of the attack, not a wait for a
    condition). A connection counts as closed when the receiver ends it (EOF or reset)."""

    HEAD = b"POST /plane/webhook/" + SLUG.encode() + b" HTTP/1.1\r\nHost: receiver\r\nX-Slow: "

    def __init__(self, port, n, every=0.25):
        self.port, self.n, self.every = port, n, every
        self.lock = threading.Lock()
        self.closed = 0
        self.trickled = 0  # header bytes sent after the first segment, all connections
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        sel = selectors.DefaultSelector()
        socks = []
        for _ in range(self.n):
            s = socket.socket()
            s.bind((ATTACKER, 0))
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            sel.register(s, selectors.EVENT_WRITE)
            socks.append(s)
        fresh, live = set(socks), set(socks)
        while live and not self.stop.is_set():
            for key, events in sel.select(timeout=self.every):
                s = key.fileobj
                if s in fresh and events & selectors.EVENT_WRITE:
                    fresh.discard(s)
                    self._send(s, self.HEAD, sel, live)
                    if s in live:
                        sel.modify(s, selectors.EVENT_READ)
                elif events & selectors.EVENT_READ:
                    self._end(s, sel, live)  # the receiver answered or closed: either ends it
            for s in list(live - fresh):
                if self._send(s, b"a", sel, live):
                    with self.lock:
                        self.trickled += 1
        for s in socks:
            s.close()

    def _send(self, s, data, sel, live):
        try:
            s.send(data)
            return True
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self._end(s, sel, live)
            return False

    def _end(self, s, sel, live):
        if s in live:
            live.discard(s)
            sel.unregister(s)
            with self.lock:
                self.closed += 1


class OversizedFlood:
    """Requests from ATTACKER announcing a 64 MiB body (the limit is 64 kB). Half send their
    headers only and wait for the answer; half push the body at once. A connection refused by the
    per-address limit (closed before any answer) is tried again."""

    def __init__(self, port, requests):
        self.port, self.requests = port, requests
        self.lock = threading.Lock()
        self.results = []  # (mode, head bytes, closed after the answer, body bytes pushed)
        self.refused = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def head(self):
        return (f"POST /plane/webhook/{SLUG} HTTP/1.1\r\nHost: receiver\r\n"
                f"Content-Type: application/json\r\nContent-Length: {OVERSIZED}\r\n\r\n").encode()

    def run(self):
        done = 0
        while done < self.requests and not self.stop.is_set():
            mode = "headers only" if done % 2 == 0 else "eager body"
            result = self.one(mode)
            if result is None:
                with self.lock:
                    self.refused += 1
                self.stop.wait(0.005)  # the flood's pace while it is refused
                continue
            with self.lock:
                self.results.append(result)
            done += 1

    def one(self, mode):
        with socket.socket() as s:
            s.bind((ATTACKER, 0))
            s.settimeout(30)
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                return None
            pushed = 0
            try:
                s.sendall(self.head())
                if mode == "eager body":
                    chunk = b"x" * 65536
                    while pushed < OVERSIZED:
                        pushed += s.send(chunk)
                head = read_response_head(s)
            except (ConnectionResetError, BrokenPipeError):
                head = b""
            if not head and mode == "headers only":
                return None  # closed at once: refused by the per-address limit
            return (mode, head, closed_by_peer(s), pushed)


class GoodClient:
    """Signed deliveries from GOOD_CLIENT, one connection each (as Plane sends them), on a fixed
    schedule of `rate` a second until stopped. A delivery's latency runs from the time it was
    due, not from when it was sent: a client that waited for a stuck delivery would otherwise
    send (and time) fewer deliveries just while the receiver is slow, and hide it."""

    def __init__(self, port, rate=100):
        self.port, self.interval = port, 1.0 / rate
        self.lock = threading.Lock()
        self.results = []  # (status, seconds from due to answered)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        start = time.monotonic()
        i = 0
        while not self.stop.is_set():
            due = start + i * self.interval
            i += 1
            self.stop.wait(max(0.0, due - time.monotonic()))  # the schedule, not a condition
            body, headers = signed_delivery()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                                  source_address=(GOOD_CLIENT, 0))
                conn.request("POST", f"/plane/webhook/{SLUG}", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                conn.close()
            except (OSError, http.client.HTTPException) as e:
                status = repr(e)
            with self.lock:
                self.results.append((status, time.monotonic() - due))

    def count(self):
        with self.lock:
            return len(self.results)


class ReceiverAbuseTest(MirrorTestCase):
    RECEIVER_PORT = None

    @classmethod
    def setUpClass(cls):
        cls.RECEIVER_PORT = free_port()
        cls.CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                            "plane.queue_worker = off",  # only the receiver is under test
                            f"plane.webhook_listen_address = '127.0.0.1:{cls.RECEIVER_PORT}'",
                            f"plane.webhook_max_body_size = '{MAX_BODY // 1024}kB'",
                            "plane.webhook_max_connections = 64",
                            "plane.webhook_max_connections_per_ip = 8",
                            "plane.webhook_request_deadline = '2s'"]
        super().setUpClass()

    def setUp(self):
        if not scalar(self.conn, "SELECT count(*) FROM work_plane.installations WHERE workspace_slug = %s",
                      (SLUG,)):
            self.add_workspace(SLUG, projects=1, items=1)
            self.wait_for_run_end(SLUG)
            scalar(self.conn, "SELECT vault.create_secret(%s, %s)", (SECRET, f"plane_webhook_secret:{SLUG}"))

    def queued(self):
        return scalar(self.conn, "SELECT count(*) FROM ops.event_queue WHERE workspace_slug = %s", (SLUG,))

    def deliver_one(self):
        body, headers = signed_delivery()
        conn = http.client.HTTPConnection("127.0.0.1", self.RECEIVER_PORT, timeout=30,
                                          source_address=(GOOD_CLIENT, 0))
        try:
            conn.request("POST", f"/plane/webhook/{SLUG}", body=body, headers=headers)
            return conn.getresponse().status
        finally:
            conn.close()

    def test_413_arrives_before_the_body_is_sent(self):
        wait_until(lambda: self.deliver_one() == 200, message="the receiver to accept a delivery")
        for extra in ("", "Expect: 100-continue\r\n"):
            with socket.create_connection(("127.0.0.1", self.RECEIVER_PORT), timeout=30) as s:
                s.sendall((f"POST /plane/webhook/{SLUG} HTTP/1.1\r\nHost: receiver\r\n"
                           f"Content-Type: application/json\r\n{extra}"
                           f"Content-Length: {1024 ** 3}\r\n\r\n").encode())
                head = read_response_head(s)  # not one byte of the body has been sent
                self.assertTrue(head.startswith(b"HTTP/1.1 413"), (extra, head))
                self.assertIn(b"connection: close", head.lower())
                self.assertTrue(closed_by_peer(s))
        # A body within the limit, announced the same way, is still read and judged.
        self.assertEqual(self.deliver_one(), 200)

    def test_chunked_body_over_the_limit_is_413_and_closed(self):
        wait_until(lambda: self.deliver_one() == 200, message="the receiver to accept a delivery")
        queued_before = self.queued()
        body, headers = signed_delivery()
        body = body[:-1] + b', "pad": "' + b"x" * (2 * MAX_BODY) + b'"}'
        with socket.create_connection(("127.0.0.1", self.RECEIVER_PORT), timeout=30) as s:
            s.sendall((f"POST /plane/webhook/{SLUG} HTTP/1.1\r\nHost: receiver\r\n"
                       "Transfer-Encoding: chunked\r\n").encode()
                      + b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n")
            for i in range(0, len(body), 8192):  # no Content-Length: the size shows as it arrives
                part = body[i:i + 8192]
                s.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            s.sendall(b"0\r\n\r\n")
            head = read_response_head(s)
            self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
            self.assertIn(b"connection: close", head.lower())
            self.assertTrue(closed_by_peer(s))
        self.assertEqual(self.queued(), queued_before)

    def test_slow_loris_and_oversized_flood_leave_a_second_client_served(self):
        wait_until(lambda: self.deliver_one() == 200, message="the receiver to accept a delivery")
        queued_before = self.queued()
        good = GoodClient(self.RECEIVER_PORT)
        loris = SlowLoris(self.RECEIVER_PORT, 200)
        flood = OversizedFlood(self.RECEIVER_PORT, 40)
        attackers = (loris, flood)
        good.thread.start()
        try:
            for a in attackers:
                a.thread.start()
            # Every slow-loris connection ends (refused by the per-address limit, or cut at the
            # deadline while still trickling) and every oversized request is answered.
            wait_until(lambda: loris.closed == loris.n, timeout=60, interval=0.1,
                       message="every slow-loris connection closed")
            wait_until(lambda: len(flood.results) == flood.requests, timeout=60, interval=0.1,
                       message="every oversized request answered")
            start = good.count()
            wait_until(lambda: good.count() >= max(start + 20, 100), timeout=60, interval=0.1,
                       message="the good client's deliveries")
        finally:
            for a in attackers + (good,):
                a.stop.set()
            for a in attackers + (good,):
                a.thread.join(60)

        self.assertGreater(loris.trickled, 0, "the slow-loris connections did trickle")
        for mode, head, closed, pushed in flood.results:
            self.assertTrue(closed, (mode, head))
            self.assertLess(pushed, OVERSIZED, "the receiver read no oversized body to its end")
            if mode == "headers only":
                self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
            else:  # the 413 may be lost to the reset of a body still arriving
                self.assertTrue(head == b"" or head.startswith(b"HTTP/1.1 413"), head)
        statuses = [s for s, _ in good.results]
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertLess(p99([t for _, t in good.results]), 1.0,
                        f"p99 of {len(statuses)} signed deliveries during the attack")
        # Only the good client's deliveries were enqueued.
        self.assertEqual(self.queued() - queued_before, len(statuses))


if __name__ == "__main__":
    unittest.main()
