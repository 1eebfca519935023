"""Self-test for the Plane API simulator: python3 -m unittest test/simulator/test_plane_sim.py -v"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "plane_sim.py")
ENVELOPE_KEYS = ["grouped_by", "sub_grouped_by", "total_count", "next_cursor", "prev_cursor",
                 "next_page_results", "prev_page_results", "count", "total_pages",
                 "total_results", "extra_stats", "results"]


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="plane_sim_test_")
        port_file = os.path.join(cls.tmp, "port")
        cls.proc = subprocess.Popen([sys.executable, SIM, "--port", "0", "--port-file", port_file,
                                     "--rate-limit", "0", "--parent-pid", str(os.getpid())],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if cls.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.02)
        with open(port_file) as f:
            cls.port = int(f.read())
        cls.conn = None
        cls.ctl("POST", "seed", {"workspace": "acme", "projects": 2, "items_per_project": 250,
                                 "tz": "+05:30", "api_key": "plane_api_acme", "seed": 1,
                                 "webhook_secret": "plane_wh_secret"})
        cls.state = cls.ctl("GET", "state/acme")
        cls.pid = cls.state["projects"][0]["id"]

    @classmethod
    def tearDownClass(cls):
        if cls.conn:
            cls.conn.close()
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.wait(timeout=10)

    def tearDown(self):
        self.ctl("POST", "faults", {})
        self.ctl("POST", "config", {"rate_limit": 0, "rate_window": 60})

    # ------------------------------------------------------------------ helpers
    @classmethod
    def request(cls, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(2):
            if cls.conn is None:
                cls.conn = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=10)
            try:
                cls.conn.request(method, path, body=data, headers=headers or {})
                resp = cls.conn.getresponse()
                raw = resp.read()
                if resp.will_close:
                    cls.conn.close()
                    cls.conn = None
                return resp.status, resp.headers, raw
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                cls.conn.close()
                cls.conn = None
                if attempt:
                    raise

    @classmethod
    def ctl(cls, method, path, body=None):
        status, _, raw = cls.request(method, "/_sim/" + path, body)
        assert status == 200, (status, raw)
        return json.loads(raw)

    def api(self, path, key="plane_api_acme", method="GET", body=None, ws="acme"):
        headers = {"X-API-Key": key} if key else {}
        if not path.startswith("/api/"):
            path = f"/api/v1/workspaces/{ws}/{path}"
        status, hdrs, raw = self.request(method, path, body, headers)
        return status, hdrs, raw

    def api_json(self, path, **kw):
        status, hdrs, raw = self.api(path, **kw)
        return status, json.loads(raw)

    def private_ws(self, slug, **kw):
        spec = {"workspace": slug, "projects": 1, "items_per_project": 20, "tz": "+05:30",
                "api_key": f"plane_api_{slug}", "webhook_secret": "plane_wh_secret", "seed": 3}
        spec.update(kw)
        self.ctl("POST", "seed", spec)
        return self.ctl("GET", f"state/{slug}")

    def items_path(self, query=""):
        return f"projects/{self.pid}/work-items/" + (f"?{query}" if query else "")

    # ------------------------------------------------------------------ pagination
    def test_envelope_and_three_page_walk(self):
        seen, cursor, pages = [], None, []
        while True:
            q = "per_page=100" + (f"&cursor={cursor}" if cursor else "")
            status, doc = self.api_json(self.items_path(q))
            self.assertEqual(status, 200)
            self.assertEqual(list(doc), ENVELOPE_KEYS)
            pages.append(doc)
            seen.extend(r["id"] for r in doc["results"])
            if not doc["next_page_results"]:
                break
            cursor = doc["next_cursor"]
        self.assertEqual([p["count"] for p in pages], [100, 100, 50])
        self.assertEqual([p["next_cursor"] for p in pages], ["100:1:0", "100:2:0", "100:3:0"])
        self.assertEqual([p["prev_cursor"] for p in pages], ["100:-1:1", "100:0:1", "100:1:1"])
        self.assertEqual([p["prev_page_results"] for p in pages], [False, True, True])
        for p in pages:
            self.assertEqual((p["total_count"], p["total_results"], p["total_pages"]), (250, 250, 3))
            self.assertIsNone(p["grouped_by"])
        self.assertEqual(len(set(seen)), 250)
        # default order: -created_at
        created = [datetime.fromisoformat(r["created_at"]) for p in pages for r in p["results"]]
        self.assertEqual(created, sorted(created, reverse=True))
        # issues alias serves the same thing
        status, alias = self.api_json(f"projects/{self.pid}/issues/?per_page=100")
        self.assertEqual([r["id"] for r in alias["results"]], seen[:100])

    def test_pagination_errors(self):
        status, doc = self.api_json(self.items_path("per_page=1001"))
        self.assertEqual((status, doc), (400, {"detail": "Invalid per_page value. Cannot exceed 1000."}))
        status, doc = self.api_json(self.items_path("cursor=garbage"))
        self.assertEqual((status, doc), (400, {"detail": "Invalid cursor parameter."}))
        status, doc = self.api_json(self.items_path("per_page=100&cursor=100:-1:1"))
        self.assertEqual((status, doc), (400, {"detail": "Error in parsing"}))
        # offset uses the request's per_page, not the cursor's
        status, doc = self.api_json(self.items_path("per_page=50&cursor=100:2:0"))
        status2, ref = self.api_json(self.items_path("per_page=250"))
        self.assertEqual([r["id"] for r in doc["results"]], [r["id"] for r in ref["results"][100:150]])

    def test_order_by_and_fields(self):
        status, doc = self.api_json(self.items_path("order_by=-updated_at&fields=id,updated_at,bogus"))
        self.assertEqual(status, 200)
        rows = doc["results"]
        self.assertEqual(set(rows[0]), {"id", "updated_at"})
        ups = [datetime.fromisoformat(r["updated_at"]) for r in rows]
        self.assertEqual(ups, sorted(ups, reverse=True))
        self.assertEqual(len(set(ups)), len(ups))
        status, doc = self.api_json(self.items_path("order_by=sequence_id&fields=sequence_id"))
        self.assertEqual([r["sequence_id"] for r in doc["results"]], list(range(1, 251)))
        status, doc = self.api_json("projects/?fields=identifier")
        self.assertEqual([r["identifier"] for r in doc["results"]], ["WEB", "API"])

    # ------------------------------------------------------------------ auth & rate limit
    def test_auth(self):
        status, doc = self.api_json("projects/", key=None)
        self.assertEqual((status, doc), (401, {"detail": "Authentication credentials were not provided."}))
        status, doc = self.api_json("projects/", key="plane_api_wrong")
        self.assertEqual((status, doc), (403, {"detail": "Given API token is not valid"}))
        status, _, _ = self.request("GET", "/api/v1/workspaces/acme/projects/",
                                    headers={"x-api-key": "plane_api_acme"})
        self.assertEqual(status, 200)
        status, doc = self.api_json("/api/v1/users/me/")
        self.assertEqual(set(doc), {"id", "first_name", "last_name", "email", "avatar",
                                    "avatar_url", "display_name"})
        # bearer tokens via the control API, with expiry
        self.ctl("POST", "tokens", {"workspace": "acme", "token": "tok-ok", "expires_in": 3600})
        self.ctl("POST", "tokens", {"workspace": "acme", "token": "tok-old", "expires_in": -1})
        status, _, _ = self.request("GET", "/api/v1/workspaces/acme/projects/",
                                    headers={"Authorization": "Bearer tok-ok"})
        self.assertEqual(status, 200)
        status, _, _ = self.request("GET", "/api/v1/workspaces/acme/projects/",
                                    headers={"Authorization": "Bearer tok-old"})
        self.assertEqual(status, 401)

    def test_rate_limit(self):
        self.ctl("POST", "seed", {"workspace": "rl", "projects": 1, "items_per_project": 3,
                                  "api_key": "plane_api_rl"})
        self.ctl("POST", "config", {"rate_limit": 5, "rate_window": 2})
        self.ctl("POST", "stats/reset")
        remaining = []
        for _ in range(5):
            status, hdrs, _ = self.api("projects/", key="plane_api_rl", ws="rl")
            self.assertEqual(status, 200)
            remaining.append(int(hdrs["X-RateLimit-Remaining"]))
            reset = int(hdrs["X-RateLimit-Reset"])
            self.assertTrue(time.time() < reset <= time.time() + 3)
        self.assertEqual(remaining, [4, 3, 2, 1, 0])
        status, hdrs, raw = self.api("projects/", key="plane_api_rl", ws="rl")
        self.assertEqual(status, 429)
        self.assertEqual(json.loads(raw), {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"})
        self.assertIn(int(hdrs["Retry-After"]), (1, 2))
        self.assertNotIn("X-RateLimit-Remaining", hdrs)
        self.assertNotIn("X-RateLimit-Reset", hdrs)
        # another credential has its own bucket
        self.ctl("POST", "tokens", {"workspace": "rl", "token": "rl-bearer"})
        status, _, _ = self.request("GET", "/api/v1/workspaces/rl/projects/",
                                    headers={"Authorization": "Bearer rl-bearer"})
        self.assertEqual(status, 200)
        time.sleep(int(hdrs["Retry-After"]) + 0.05)
        status, hdrs, _ = self.api("projects/", key="plane_api_rl", ws="rl")
        self.assertEqual(status, 200)
        stats = self.ctl("GET", "stats")
        self.assertEqual(stats["rate_limited"], 1)
        self.assertEqual(stats["max_requests_in_any_window"], 5)
        self.assertEqual(stats["status_counts"]["429"], 1)

    # ------------------------------------------------------------------ timestamps
    def test_timezones(self):
        status, doc = self.api_json(self.items_path("per_page=5"))
        api_rows = doc["results"]
        self.assertTrue(all(r["created_at"].endswith("+05:30") for r in api_rows))
        truth = {r["id"]: r for r in self.state["work_items"]}
        for r in api_rows:
            t = truth[r["id"]]
            self.assertTrue(t["updated_at"].endswith("Z"))
            self.assertEqual(datetime.fromisoformat(r["updated_at"]),
                             datetime.fromisoformat(t["updated_at"].replace("Z", "+00:00")))
            if r["start_date"]:
                self.assertRegex(r["start_date"], r"^\d{4}-\d{2}-\d{2}$")
        self.ctl("POST", "seed", {"workspace": "utc", "projects": 1, "items_per_project": 3,
                                  "api_key": "plane_api_utc", "tz": "Z"})
        status, doc = self.api_json("projects/", key="plane_api_utc", ws="utc")
        self.assertRegex(doc["results"][0]["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

    # ------------------------------------------------------------------ visibility
    def test_archived_and_deleted_visibility(self):
        self.ctl("POST", "seed", {"workspace": "vis", "projects": 2, "items_per_project": 10,
                                  "api_key": "plane_api_vis", "cycles_per_project": 2})
        st = self.ctl("GET", "state/vis")
        pid = st["projects"][0]["id"]
        items = [r for r in st["work_items"] if r["project"] == pid]
        a, d = items[0]["id"], items[1]["id"]
        self.ctl("POST", "mutate", {"workspace": "vis", "op": "archive", "type": "work_item", "id": a})
        self.ctl("POST", "mutate", {"workspace": "vis", "op": "delete", "type": "work_item", "id": d})
        kw = {"key": "plane_api_vis", "ws": "vis"}
        status, doc = self.api_json(f"projects/{pid}/work-items/?fields=id", **kw)
        ids = {r["id"] for r in doc["results"]}
        self.assertEqual(len(ids), 8)
        self.assertNotIn(a, ids)
        self.assertNotIn(d, ids)
        for i in (a, d):
            self.assertEqual(self.api(f"projects/{pid}/work-items/{i}/", **kw)[0], 404)
        st = self.ctl("GET", "state/vis")
        by_id = {r["id"]: r for r in st["work_items"]}
        self.assertRegex(by_id[a]["archived_at"], r"^\d{4}-\d{2}-\d{2}$")
        self.assertNotIn(d, by_id)
        self.assertIn(d, st["deleted_ids"])
        # cycles: archived ones move to archived-cycles; current view is a bare array
        cyc = [c for c in st["cycles"] if c["project"] == pid]
        self.ctl("POST", "mutate", {"workspace": "vis", "op": "archive", "type": "cycle",
                                    "id": cyc[1]["id"]})
        status, doc = self.api_json(f"projects/{pid}/cycles/", **kw)
        self.assertEqual([c["id"] for c in doc["results"]], [cyc[0]["id"]])
        status, doc = self.api_json(f"projects/{pid}/archived-cycles/", **kw)
        self.assertEqual([c["id"] for c in doc["results"]], [cyc[1]["id"]])
        status, doc = self.api_json(f"projects/{pid}/cycles/?cycle_view=current", **kw)
        self.assertIsInstance(doc, list)
        self.assertEqual([c["id"] for c in doc], [cyc[0]["id"]])
        # projects: archived listed (archived_at set), deleted gone
        p2 = st["projects"][1]["id"]
        self.ctl("POST", "mutate", {"workspace": "vis", "op": "archive", "type": "project", "id": pid})
        self.ctl("POST", "mutate", {"workspace": "vis", "op": "delete", "type": "project", "id": p2})
        status, doc = self.api_json("projects/", **kw)
        self.assertEqual([p["id"] for p in doc["results"]], [pid])
        self.assertIsNotNone(doc["results"][0]["archived_at"])
        # bare arrays, pages disabled -> 404
        status, doc = self.api_json(f"projects/{pid}/members/", **kw)
        self.assertIsInstance(doc, list)
        status, doc = self.api_json("members/", **kw)
        self.assertIn("role", doc[0])
        status, doc = self.api_json("pages/", **kw)
        self.assertEqual((status, doc), (404, {"detail": "Not found."}))
        self.ctl("POST", "config", {"workspace": "vis", "pages_enabled": True})
        status, doc = self.api_json("pages/", **kw)
        self.assertEqual(status, 200)
        self.assertEqual(doc["next_cursor"], "20:1:0")

    # ------------------------------------------------------------------ writes & webhooks
    def test_mutate_and_webhook_signatures(self):
        st = self.private_ws("hooks")
        pid = st["projects"][0]["id"]
        victim = st["work_items"][5]
        res = self.ctl("POST", "mutate", {"workspace": "hooks", "op": "update", "type": "work_item",
                                          "id": victim["id"],
                                          "fields": {"name": "Renamed ✓", "priority": "urgent",
                                                     "labels": victim["labels"]}})
        obj = res["object"]
        self.assertEqual(obj["name"], "Renamed ✓")
        self.assertGreater(datetime.fromisoformat(obj["updated_at"]),
                           datetime.fromisoformat(victim["updated_at"]))
        v1 = [d for d in res["webhooks"] if d["version"] == "v1"]
        v2 = [d for d in res["webhooks"] if d["version"] == "v2"]
        changed = ["name"] + (["priority"] if victim["priority"] != "urgent" else [])
        self.assertEqual(len(v1), len(changed))   # one per changed key; unchanged labels: none
        self.assertEqual(len(v2), 1)
        for d in res["webhooks"]:
            body = d["body"].encode("utf-8")
            self.assertEqual(d["headers"]["X-Plane-Signature"],
                             hmac.new(b"plane_wh_secret", body, hashlib.sha256).hexdigest())
            self.assertEqual(json.dumps(json.loads(body)), d["body"])   # json.dumps defaults
            self.assertEqual(d["headers"]["User-Agent"], "Autopilot")
        p = json.loads(v1[0]["body"])
        self.assertEqual(list(p), ["event", "action", "webhook_id", "workspace_id", "data", "activity"])
        self.assertEqual((p["event"], p["action"]), ("issue", "updated"))
        self.assertEqual(v1[0]["headers"]["X-Plane-Event"], "issue")
        self.assertEqual([json.loads(d["body"])["activity"]["field"] for d in v1], changed)
        self.assertEqual(p["activity"]["old_value"], victim["name"])
        self.assertEqual(p["activity"]["new_value"], "Renamed ✓")
        self.assertIsInstance(p["data"]["state"], dict)
        self.assertTrue(p["data"]["updated_at"].endswith("Z"))
        self.assertIn("\\u2713", v1[0]["body"])
        q = json.loads(v2[0]["body"])
        self.assertEqual(q["event"], "workitem.updated")
        self.assertEqual(q["delivery_id"], v2[0]["headers"]["X-Plane-Delivery"])
        self.assertEqual(q["previous_attributes"]["name"], victim["name"])
        # API sees the change in the key owner's zone
        status, doc = self.api_json(f"projects/{pid}/work-items/?order_by=-updated_at&per_page=1",
                                    key="plane_api_hooks", ws="hooks")
        self.assertEqual(doc["results"][0]["id"], victim["id"])
        self.assertTrue(doc["results"][0]["updated_at"].endswith("+05:30"))
        # create -> next sequence id, single v1 'created'
        res = self.ctl("POST", "mutate", {"workspace": "hooks", "op": "create", "type": "work_item",
                                          "project": pid, "fields": {"name": "brand new"}})
        self.assertEqual(res["object"]["sequence_id"], 21)
        self.assertEqual([json.loads(d["body"])["action"] for d in res["webhooks"] if d["version"] == "v1"],
                         ["created"])
        # work item delete: nothing for v1, v2 *.deleted with the full previous record
        res = self.ctl("POST", "mutate", {"workspace": "hooks", "op": "delete", "type": "work_item",
                                          "id": res["object"]["id"]})
        self.assertEqual([d["version"] for d in res["webhooks"]], ["v2"])
        q = json.loads(res["webhooks"][0]["body"])
        self.assertEqual((q["event"], q["data"]), ("workitem.deleted", {}))
        self.assertEqual(q["previous_attributes"]["name"], "brand new")

    def test_deliver_to_and_api_writes(self):
        received = []

        class Sink(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        sink = HTTPServer(("127.0.0.1", 0), Sink)
        t = threading.Thread(target=sink.serve_forever, daemon=True)
        t.start()
        try:
            st = self.private_ws("writes")
            pid = st["projects"][0]["id"]
            victim = st["work_items"][7]
            res = self.ctl("POST", "mutate", {
                "workspace": "writes", "op": "update", "type": "work_item", "id": victim["id"],
                "fields": {"name": victim["name"] + " (edited)"},
                "deliver_to": f"http://127.0.0.1:{sink.server_address[1]}/hook"})
            self.assertEqual([d["status"] for d in res["delivered"]], [204, 204])
            for headers, body in received:
                self.assertEqual(headers["X-Plane-Signature"],
                                 hmac.new(b"plane_wh_secret", body, hashlib.sha256).hexdigest())
        finally:
            sink.shutdown()
            sink.server_close()
        # PATCH / POST through the REST API
        kw = {"key": "plane_api_writes", "ws": "writes"}
        states = self.api_json(f"projects/{pid}/states/", **kw)[1]["results"]
        self.assertNotIn("triage", [s["group"] for s in states])
        done = next(s for s in states if s["group"] == "completed")
        status, doc = self.api_json(f"projects/{pid}/work-items/{victim['id']}/", method="PATCH",
                                    body={"state": done["id"], "priority": "low", "bogus": 1}, **kw)
        self.assertEqual(status, 200)
        self.assertEqual((doc["state"], doc["priority"]), (done["id"], "low"))
        self.assertIsNotNone(doc["completed_at"])
        status, doc = self.api_json(f"projects/{pid}/work-items/{victim['id']}/", method="PATCH",
                                    body={"priority": "extreme"}, **kw)
        self.assertEqual(status, 400)
        status, doc = self.api_json(f"projects/{pid}/work-items/", method="POST",
                                    body={"name": "via api"}, **kw)
        self.assertEqual(status, 201)
        self.assertEqual(doc["sequence_id"], 21)
        outbox = self.ctl("GET", "webhooks/writes")["deliveries"]
        self.assertEqual([json.loads(d["body"])["event"] for d in outbox if d["version"] == "v2"],
                         ["workitem.updated", "workitem.updated", "workitem.created"])
        self.assertEqual(doc["name"], "via api")
        self.assertTrue(doc["created_at"].endswith("+05:30"))

    # ------------------------------------------------------------------ faults
    def test_faults(self):
        self.ctl("POST", "faults", {"fail_next": 2, "error_status": 503})
        self.assertEqual(self.api("projects/")[0], 503)
        self.assertEqual(self.api("projects/")[0], 503)
        self.assertEqual(self.api("projects/")[0], 200)
        self.ctl("POST", "faults", {"malformed_rate": 1.0, "path_regex": "acme/projects/$"})
        status, _, raw = self.api("projects/")
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(raw)
        self.assertEqual(self.api(f"projects/{self.pid}/states/")[0], 200)   # not matched
        self.ctl("POST", "faults", {"rate_429_next": 1})
        status, hdrs, _ = self.api("projects/")
        self.assertEqual((status, hdrs["Retry-After"]), (429, "1"))
        self.ctl("POST", "faults", {"truncate_rate": 1.0})
        with self.assertRaises(http.client.IncompleteRead):
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("GET", "/api/v1/workspaces/acme/projects/", headers={"X-API-Key": "plane_api_acme"})
            try:
                c.getresponse().read()
            finally:
                c.close()
        # hang: does not block other requests; released when faults are cleared
        self.ctl("POST", "faults", {"hang": True, "path_regex": "/members/"})
        out = {}

        def hung():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("GET", "/api/v1/workspaces/acme/members/", headers={"X-API-Key": "plane_api_acme"})
            out["status"] = c.getresponse().status
            c.close()

        th = threading.Thread(target=hung)
        th.start()
        time.sleep(0.3)
        self.assertEqual(self.api("projects/")[0], 200)
        self.assertNotIn("status", out)
        self.ctl("POST", "faults", {})
        th.join(5)
        self.assertEqual(out.get("status"), 200)

    # ------------------------------------------------------------------ speed
    def test_large_seed_is_fast(self):
        t0 = time.time()
        info = self.ctl("POST", "seed", {"workspace": "big", "projects": 10, "items_per_project": 10000,
                                         "api_key": "plane_api_big"})
        self.assertLess(time.time() - t0, 10)
        pid = info["projects"][0]["id"]
        self.api(f"projects/{pid}/work-items/?per_page=100", key="plane_api_big", ws="big")
        t0 = time.time()
        for page in range(1, 21):
            status, _, _ = self.api(f"projects/{pid}/work-items/?per_page=100&cursor=100:{page}:0",
                                    key="plane_api_big", ws="big")
            self.assertEqual(status, 200)
        self.assertLess(time.time() - t0, 2.0)


    # ------------------------------------------------------------------ OAuth apps
    def oauth_app(self, slug, **kw):
        self.private_ws(slug)
        spec = {"workspace": slug, "client_id": f"cid-{slug}", "client_secret": f"secret-{slug}",
                "redirect_uri": "https://db.example/cb?tenant=1", "app_installation_id": f"inst-{slug}"}
        spec.update(kw)
        return self.ctl("POST", "oauth/apps", spec)

    def token(self, form, basic=None, content_type="application/x-www-form-urlencoded"):
        headers = {"Content-Type": content_type}
        if basic:
            headers["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        status, hdrs, raw = self.request_raw("POST", "/auth/o/token/", urlencode(form).encode(), headers)
        return status, json.loads(raw)

    @classmethod
    def request_raw(cls, method, path, data=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", cls.port, timeout=10)
        try:
            c.request(method, path, body=data, headers=headers or {})
            resp = c.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            c.close()

    def authorize(self, app, state="st-1", redirect=None):
        q = urlencode({"client_id": app["client_id"], "response_type": "code",
                       "redirect_uri": redirect or app["redirect_uri"], "state": state,
                       "scope": "projects:read projects.work_items:read"})
        return self.request_raw("GET", "/auth/o/authorize-app/?" + q)

    def test_oauth_authorization_code_flow(self):
        app = self.oauth_app("oauth1")
        status, hdrs, _ = self.authorize(app, state="state/+= 1")
        self.assertEqual(status, 302)
        loc = urlsplit(hdrs["Location"])
        self.assertEqual(f"{loc.scheme}://{loc.netloc}{loc.path}", "https://db.example/cb")
        q = parse_qs(loc.query)
        self.assertEqual(q["tenant"], ["1"])
        self.assertEqual(q["state"], ["state/+= 1"])
        self.assertEqual(q["app_installation_id"], ["inst-oauth1"])
        code = q["code"][0]
        self.assertIn("state/+= 1", self.ctl("GET", "oauth")["states"])
        # refused authorize requests
        self.assertEqual(self.authorize(app, redirect="https://evil.example/cb")[0], 400)
        self.assertEqual(self.authorize(dict(app, client_id="nope"))[0], 400)
        # the token endpoint takes forms only
        form = {"grant_type": "authorization_code", "code": code, "client_id": app["client_id"],
                "client_secret": app["client_secret"], "redirect_uri": app["redirect_uri"]}
        status, doc = self.token(form, content_type="application/json")
        self.assertEqual((status, doc["error"]), (400, "invalid_request"))
        status, doc = self.token(dict(form, client_secret="wrong"))
        self.assertEqual((status, doc), (401, {"error": "invalid_client"}))
        status, doc = self.token(dict(form, grant_type="password"))
        self.assertEqual((status, doc), (400, {"error": "unsupported_grant_type"}))
        status, tok = self.token(form)
        self.assertEqual(status, 200)
        self.assertEqual(set(tok), {"access_token", "refresh_token", "token_type", "expires_in", "scope"})
        self.assertEqual((tok["token_type"], tok["expires_in"]), ("Bearer", 86400))
        self.assertEqual(tok["scope"], "projects:read projects.work_items:read")
        self.assertTrue(tok["access_token"].startswith("pln_"))
        self.assertTrue(tok["refresh_token"].startswith("pln_refresh_"))
        # codes are single use
        status, doc = self.token(form)
        self.assertEqual((status, doc), (400, {"error": "invalid_grant"}))
        # the access token works on the REST API as a bearer token
        status, _, raw = self.request("GET", "/api/v1/workspaces/oauth1/projects/",
                                      headers={"Authorization": "Bearer " + tok["access_token"]})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(raw)["total_count"], 1)
        # a redirect_uri that differs from the authorize request's is refused
        _, hdrs, _ = self.authorize(app)
        code2 = parse_qs(urlsplit(hdrs["Location"]).query)["code"][0]
        status, doc = self.token(dict(form, code=code2, redirect_uri="https://db.example/other"))
        self.assertEqual((status, doc["error"]), (400, "invalid_grant"))
        log = self.ctl("GET", "oauth")["log"]
        self.assertEqual([(e["grant_type"], e["status"]) for e in log[-6:]],
                         [("authorization_code", 400), ("authorization_code", 401), ("password", 400),
                          ("authorization_code", 200), ("authorization_code", 400),
                          ("authorization_code", 400)])

    def test_oauth_refresh_rotation_expiry_and_faults(self):
        app = self.oauth_app("oauth2", expires_in=3600)
        _, hdrs, _ = self.authorize(app)
        code = parse_qs(urlsplit(hdrs["Location"]).query)["code"][0]
        base = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
        status, first = self.token(dict(base, grant_type="authorization_code", code=code,
                                        redirect_uri=app["redirect_uri"]))
        self.assertEqual((status, first["expires_in"]), (200, 3600))
        status, second = self.token(dict(base, grant_type="refresh_token",
                                         refresh_token=first["refresh_token"]))
        self.assertEqual(status, 200)
        self.assertNotEqual(second["refresh_token"], first["refresh_token"])
        self.assertNotEqual(second["access_token"], first["access_token"])
        # rotation: the spent refresh token is refused
        status, doc = self.token(dict(base, grant_type="refresh_token",
                                      refresh_token=first["refresh_token"]))
        self.assertEqual((status, doc), (400, {"error": "invalid_grant"}))
        # the next refresh fails on demand (without spending the token), then works again
        self.ctl("POST", "oauth/faults", {"fail_next_refresh": 1})
        refresh = dict(base, grant_type="refresh_token", refresh_token=second["refresh_token"])
        self.assertEqual(self.token(refresh), (400, {"error": "invalid_grant"}))
        self.ctl("POST", "oauth/faults", {"fail_next_refresh": 1, "refresh_status": 503})
        status, doc = self.token(refresh)
        self.assertEqual((status, doc["error"]), (503, "server_error"))
        status, third = self.token(refresh)
        self.assertEqual(status, 200)
        # expiring the tokens makes the API answer 401
        api = "/api/v1/workspaces/oauth2/projects/"
        auth = {"Authorization": "Bearer " + third["access_token"]}
        self.assertEqual(self.request("GET", api, headers=auth)[0], 200)
        res = self.ctl("POST", "oauth/expire", {"client_id": app["client_id"]})
        self.assertEqual(res["expired"], 3)
        status, _, raw = self.request("GET", api, headers=auth)
        self.assertEqual((status, json.loads(raw)), (401, {"detail": "Token has expired."}))
        # ... but the refresh token still gets a fresh, working pair
        status, fourth = self.token(dict(base, grant_type="refresh_token",
                                         refresh_token=third["refresh_token"]))
        self.assertEqual(status, 200)
        self.assertEqual(self.request("GET", api, headers={
            "Authorization": "Bearer " + fourth["access_token"]})[0], 200)

    def test_oauth_bot_token_and_app_installation(self):
        app = self.oauth_app("oauth3", expires_in=120)
        form = {"grant_type": "client_credentials", "app_installation_id": "inst-oauth3",
                "scope": "projects:read"}
        # Basic auth is required for client_credentials
        status, doc = self.token(dict(form, client_id=app["client_id"], client_secret=app["client_secret"]))
        self.assertEqual((status, doc["error"]), (401, "invalid_client"))
        status, doc = self.token(form, basic=f"{app['client_id']}:wrong")
        self.assertEqual((status, doc), (401, {"error": "invalid_client"}))
        status, doc = self.token(dict(form, app_installation_id="other"),
                                 basic=f"{app['client_id']}:{app['client_secret']}")
        self.assertEqual((status, doc["error"]), (400, "invalid_grant"))
        status, bot = self.token(form, basic=f"{app['client_id']}:{app['client_secret']}")
        self.assertEqual(status, 200)
        self.assertTrue(bot["access_token"].startswith("pln_bot_"))
        self.assertNotIn("refresh_token", bot)
        self.assertEqual((bot["expires_in"], bot["scope"]), (120, "projects:read"))
        auth = {"Authorization": "Bearer " + bot["access_token"]}
        status, _, raw = self.request_raw("GET", "/auth/o/app-installation/?id=inst-oauth3", headers=auth)
        self.assertEqual(status, 200)
        inst = json.loads(raw)
        self.assertEqual(len(inst), 1)
        self.assertEqual(inst[0]["id"], "inst-oauth3")
        self.assertEqual(inst[0]["workspace_detail"]["slug"], "oauth3")
        self.assertEqual(inst[0]["status"], "installed")
        status, _, raw = self.request_raw("GET", "/auth/o/app-installation/?id=unknown", headers=auth)
        self.assertEqual((status, json.loads(raw)), (200, []))
        self.assertEqual(self.request_raw("GET", "/auth/o/app-installation/?id=inst-oauth3")[0], 401)
        self.assertEqual(self.request_raw("GET", "/auth/o/app-installation/?id=inst-oauth3",
                                          headers={"Authorization": "Bearer nope"})[0], 401)
        # the bot token reads the REST API; an API key is not an OAuth bearer token
        self.assertEqual(self.request("GET", "/api/v1/workspaces/oauth3/projects/", headers=auth)[0], 200)
        self.assertEqual(self.request_raw("GET", "/auth/o/app-installation/", headers={
            "Authorization": "Bearer plane_api_oauth3"})[0], 401)

    # ------------------------------------------------------------------ MCP
    MCP_HEADERS = {"Authorization": "Bearer plane_api_acme", "X-Workspace-slug": "acme",
                   "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}

    def mcp_post(self, message, session=None, headers=None, ws="acme"):
        h = dict(self.MCP_HEADERS, **{"Authorization": f"Bearer plane_api_{ws}", "X-Workspace-slug": ws})
        if session:
            h["Mcp-Session-Id"] = session
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        status, hdrs, raw = self.request_raw("POST", "/mcp", json.dumps(message).encode(), h)
        ctype = hdrs.get("Content-Type", "")
        if ctype.startswith("text/event-stream"):
            msgs = [json.loads(d) for d in sse_data(raw.decode())]
            doc = next((m for m in msgs if "id" in m and m.get("id") == message.get("id")), None)
            return status, hdrs, doc, msgs
        return status, hdrs, (json.loads(raw) if raw else None), None

    def mcp_session(self, ws="acme"):
        status, hdrs, doc, _ = self.mcp_post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "test"}}}, ws=ws)
        self.assertEqual(status, 200)
        self.assertEqual(doc["result"]["protocolVersion"], "2025-03-26")
        sid = hdrs["Mcp-Session-Id"]
        status, _, doc, _ = self.mcp_post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid,
                                          ws=ws)
        self.assertEqual((status, doc), (202, None))
        return sid

    def mcp_call(self, sid, name, arguments, mid=7, ws="acme"):
        status, _, doc, _ = self.mcp_post({"jsonrpc": "2.0", "id": mid, "method": "tools/call",
                                           "params": {"name": name, "arguments": arguments}}, sid, ws=ws)
        self.assertEqual(status, 200)
        return doc

    def test_mcp_json_session_tools_and_calls(self):
        self.addCleanup(self.ctl, "POST", "mcp/config", {})
        self.ctl("POST", "mcp/reset")
        st = self.private_ws("mcpws")   # writes go to a private workspace, not the shared one
        pid, ws = st["projects"][0]["id"], "mcpws"
        sid = self.mcp_session(ws)
        status, _, doc, _ = self.mcp_post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sid, ws=ws)
        tools = {t["name"]: t for t in doc["result"]["tools"]}
        self.assertNotIn("nextCursor", doc["result"])
        self.assertEqual(set(tools), {"workitem", "project", "state", "get_me"})
        self.assertFalse(tools["workitem"]["annotations"]["readOnlyHint"])
        self.assertTrue(tools["get_me"]["annotations"]["readOnlyHint"])
        self.assertIn("update", tools["workitem"]["inputSchema"]["properties"]["action"]["enum"])
        # list / retrieve / update against the simulator's data
        res = self.mcp_call(sid, "workitem", {"action": "list", "project_id": pid, "per_page": 5}, ws=ws)
        self.assertFalse(res["result"]["isError"])
        page = res["result"]["structuredContent"]
        self.assertEqual((page["count"], page["total_count"]), (5, 20))
        self.assertEqual(json.loads(res["result"]["content"][0]["text"]), page)
        victim = page["results"][0]
        self.assertTrue(victim["updated_at"].endswith("+05:30"))
        res = self.mcp_call(sid, "workitem", {"action": "retrieve", "project_id": pid,
                                              "work_item_id": victim["id"]}, ws=ws)
        self.assertEqual(res["result"]["structuredContent"]["name"], victim["name"])
        res = self.mcp_call(sid, "workitem", {"action": "update", "project_id": pid,
                                              "work_item_id": victim["id"], "priority": "urgent",
                                              "name": "Renamed by MCP"}, ws=ws)
        after = res["result"]["structuredContent"]
        self.assertEqual((after["name"], after["priority"]), ("Renamed by MCP", "urgent"))
        self.assertGreater(datetime.fromisoformat(after["updated_at"]),
                           datetime.fromisoformat(victim["updated_at"]))
        truth = {r["id"]: r for r in self.ctl("GET", "state/mcpws")["work_items"]}
        self.assertEqual(truth[victim["id"]]["name"], "Renamed by MCP")
        ident = st["projects"][0]["identifier"]
        res = self.mcp_call(sid, "workitem", {"action": "retrieve_by_identifier",
                                              "identifier": f"{ident}-{after['sequence_id']}"}, ws=ws)
        self.assertEqual(res["result"]["structuredContent"]["id"], victim["id"])
        res = self.mcp_call(sid, "get_me", {}, ws=ws)
        self.assertIn("display_name", res["result"]["structuredContent"])
        res = self.mcp_call(sid, "project", {"action": "list"}, ws=ws)
        self.assertEqual(res["result"]["structuredContent"]["total_count"], 1)
        # tool failures are results with isError; unknown tools and methods are JSON-RPC errors
        for args in ({"action": "delete", "project_id": pid},
                     {"action": "retrieve", "project_id": pid, "work_item_id": "missing"},
                     {"action": "update", "project_id": pid, "work_item_id": victim["id"],
                      "priority": "extreme"},
                     {"action": "retrieve"}):
            res = self.mcp_call(sid, "workitem", args, ws=ws)
            self.assertTrue(res["result"]["isError"], args)
            self.assertTrue(res["result"]["content"][0]["text"].startswith("Error: "))
        res = self.mcp_call(sid, "nope", {}, ws=ws)
        self.assertEqual(res["error"]["code"], -32602)
        status, _, doc, _ = self.mcp_post({"jsonrpc": "2.0", "id": 9, "method": "resources/list"}, sid, ws=ws)
        self.assertEqual((status, doc["error"]["code"], doc["id"]), (200, -32601, 9))
        status, _, doc, _ = self.mcp_post({"jsonrpc": "2.0", "id": 10, "method": "ping"}, sid, ws=ws)
        self.assertEqual(doc, {"jsonrpc": "2.0", "id": 10, "result": {}})
        log = self.ctl("GET", "mcp")["log"]
        calls = [e for e in log if e["method"] == "tools/call"]
        self.assertEqual(calls[2]["tool"], "workitem")
        self.assertEqual(calls[2]["arguments"]["action"], "update")
        self.assertTrue(all(e["session"] == sid for e in log[2:]))
        # DELETE ends the session
        self.assertEqual(self.request_raw("DELETE", "/mcp", headers=dict(self.MCP_HEADERS, **{
            "Mcp-Session-Id": sid, "Authorization": "Bearer plane_api_mcpws",
            "X-Workspace-slug": ws}))[0], 200)
        status, _, doc, _ = self.mcp_post({"jsonrpc": "2.0", "id": 11, "method": "ping"}, sid, ws=ws)
        self.assertEqual(status, 404)

    def test_mcp_protocol_errors_and_auth(self):
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        sid = self.mcp_session()
        status, hdrs, doc, _ = self.mcp_post(ping, sid, {"Authorization": None})
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs["WWW-Authenticate"])
        self.assertEqual(self.mcp_post(ping, sid, {"Authorization": "Bearer plane_api_wrong"})[0], 401)
        status, _, doc, _ = self.mcp_post(ping, sid, {"X-Workspace-slug": None})
        self.assertEqual((status, doc["error"]["code"]), (400, -32600))
        self.private_ws("mcpother")
        self.assertEqual(self.mcp_post(ping, sid, {"X-Workspace-slug": "mcpother"})[0], 403)
        status, _, doc, _ = self.mcp_post(ping)
        self.assertEqual((status, doc["error"]["message"]), (400, "Bad Request: Missing session ID"))
        status, _, doc, _ = self.mcp_post(ping, "no-such-session")
        self.assertEqual((status, doc["id"]), (404, None))
        self.assertEqual(self.mcp_post(ping, sid, {"Accept": "application/json"})[0], 406)
        self.assertEqual(self.mcp_post(ping, sid, {"Content-Type": "text/plain"})[0], 415)
        self.assertEqual(self.mcp_post(ping, sid, {"Mcp-Protocol-Version": "1999-01-01"})[0], 400)
        self.assertEqual(self.mcp_post(ping, sid, {"Mcp-Protocol-Version": "2025-03-26"})[0], 200)
        status, _, raw = self.request_raw("POST", "/mcp", b"{not json", dict(self.MCP_HEADERS, **{
            "Mcp-Session-Id": sid}))
        self.assertEqual((status, json.loads(raw)["error"]["code"]), (400, -32700))
        self.assertEqual(self.request_raw("GET", "/mcp", headers=self.MCP_HEADERS)[0], 405)
        # /mcp accepts an OAuth or /_sim/tokens bearer token; the hosted API-key path only API keys
        self.ctl("POST", "tokens", {"workspace": "acme", "token": "mcp-bearer"})
        init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}).encode()
        status, hdrs, _ = self.request_raw("POST", "/mcp", init,
                                           dict(self.MCP_HEADERS, Authorization="Bearer mcp-bearer"))
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Mcp-Session-Id"])
        status, hdrs, _ = self.request_raw("POST", "/http/api-key/mcp", init, self.MCP_HEADERS)
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Mcp-Session-Id"])
        # a batch of a request and a notification
        status, _, doc, _ = self.mcp_post([{"jsonrpc": "2.0", "id": 5, "method": "ping"},
                                           {"jsonrpc": "2.0", "method": "notifications/cancelled"}], sid)
        self.assertEqual((status, doc), (200, [{"jsonrpc": "2.0", "id": 5, "result": {}}]))

    def test_mcp_sse_replies_and_tools_pagination(self):
        self.addCleanup(self.ctl, "POST", "mcp/config", {})
        self.ctl("POST", "mcp/config", {"mode": "sse", "page_size": 3, "sse_crlf": True})
        sid = self.mcp_session()   # initialize answered over SSE too
        status, hdrs, doc, msgs = self.mcp_post({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, sid)
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/event-stream"))
        self.assertEqual(len(msgs), 2)   # a log notification, then the response
        self.assertEqual(msgs[0]["method"], "notifications/message")
        self.assertEqual([t["name"] for t in doc["result"]["tools"]], ["workitem", "project", "state"])
        self.assertEqual(doc["result"]["nextCursor"], "3")
        status, _, raw = self.request_raw("POST", "/mcp", json.dumps(
            {"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"cursor": "3"}}).encode(),
            dict(self.MCP_HEADERS, **{"Mcp-Session-Id": sid}))
        text = raw.decode()
        self.assertIn("\r\n\r\n", text)
        self.assertTrue(text.startswith(": "))
        data_lines = [ln for ln in text.split("\r\n") if ln.startswith("data:")]
        self.assertGreater(len(data_lines), 3)   # the response spans several data: lines
        doc = [json.loads(d) for d in sse_data(text)][-1]
        self.assertEqual([t["name"] for t in doc["result"]["tools"]], ["get_me"])
        self.assertNotIn("nextCursor", doc["result"])
        status, _, doc, _ = self.mcp_post({"jsonrpc": "2.0", "id": 6, "method": "tools/list",
                                           "params": {"cursor": "bogus"}}, sid)
        self.assertEqual(doc["error"]["code"], -32602)
        self.ctl("POST", "mcp/config", {"mode": "sse", "sse_noise": False})
        status, _, raw = self.request_raw("POST", "/mcp", json.dumps(
            {"jsonrpc": "2.0", "id": 8, "method": "ping"}).encode(),
            dict(self.MCP_HEADERS, **{"Mcp-Session-Id": sid}))
        self.assertEqual([json.loads(d) for d in sse_data(raw.decode())],
                         [{"jsonrpc": "2.0", "id": 8, "result": {}}])

    def test_mcp_faults_500_and_hang(self):
        self.addCleanup(self.ctl, "POST", "mcp/config", {})
        sid = self.mcp_session()
        ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        self.ctl("POST", "mcp/config", {"fail": True})
        self.assertEqual(self.mcp_post(ping, sid)[0], 500)
        self.assertEqual(self.mcp_post(ping, sid)[0], 500)
        self.ctl("POST", "mcp/config", {"fail_next": 1, "error_status": 503})
        self.assertEqual(self.mcp_post(ping, sid)[0], 503)
        self.assertEqual(self.mcp_post(ping, sid)[0], 200)
        self.ctl("POST", "mcp/config", {"hang": True})
        out = {}

        def hung():
            out["status"] = self.mcp_post(ping, sid)[0]

        th = threading.Thread(target=hung)
        th.start()
        time.sleep(0.3)
        self.assertNotIn("status", out)
        self.assertEqual(self.api("projects/")[0], 200)   # the REST API is not blocked
        self.ctl("POST", "mcp/config", {})
        th.join(5)
        self.assertEqual(out.get("status"), 200)
        # a client that gives up on a hung request is dropped, not answered later
        self.ctl("POST", "mcp/config", {"hang": True})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
        with self.assertRaises(OSError):
            c.request("POST", "/mcp", json.dumps(ping).encode(),
                      dict(self.MCP_HEADERS, **{"Mcp-Session-Id": sid}))
            c.getresponse()
        c.close()
        self.ctl("POST", "mcp/config", {})
        self.assertEqual(self.mcp_post(ping, sid)[0], 200)


    # ------------------------------------------------------------------ plane-api.md §11 switches
    DENIED = {"detail": "You do not have permission to perform this action."}
    GONE = {"error": "The required object does not exist."}

    def test_non_member_projects(self):
        info = self.ctl("POST", "seed", {"workspace": "nm", "projects": 2, "items_per_project": 12,
                                         "non_member_projects": 1, "api_key": "plane_api_nm",
                                         "tz": "Z", "pages_enabled": True, "seed": 3})
        kw = {"key": "plane_api_nm", "ws": "nm"}
        self.assertEqual(len(info["non_member_projects"]), 1)
        npid = info["non_member_projects"][0]
        p0, p1 = info["projects"][0]["id"], info["projects"][1]["id"]
        self.assertEqual([(p["id"], p["is_member"], p["network"], p["work_items"]) for p in info["projects"]],
                         [(p0, True, 2, 12), (p1, True, 2, 12), (npid, False, 2, 12)])
        users = {u["id"]: u["projects"] for u in info["users"]}
        self.assertEqual(users[info["owner"]], [p0, p1])
        self.assertTrue(any(npid in ps for ps in users.values()))
        st = self.ctl("GET", "state/nm")
        srow = next(p for p in st["projects"] if p["id"] == npid)
        self.assertNotIn(info["owner"], srow["_members"])
        self.assertFalse(srow["is_member"])
        # listed (public) and rendered for the caller: non-member sort_order NULL sorts last
        status, doc = self.api_json("projects/", **kw)
        self.assertEqual([r["id"] for r in doc["results"]], [p0, p1, npid])
        mine, theirs = doc["results"][0], doc["results"][2]
        self.assertEqual((mine["is_member"], mine["member_role"]), (True, 20))
        self.assertEqual((theirs["is_member"], theirs["member_role"], theirs["sort_order"]),
                         (False, None, None))
        status, doc = self.api_json(f"projects/{npid}/", **kw)
        self.assertEqual((status, doc["is_member"]), (200, False))
        # every project-scoped list and detail answers 403
        one = {k: next(r["id"] for r in st[k] if r["project"] == npid)
               for k in ("states", "labels", "cycles", "modules", "work_items", "pages")}
        ident = srow["identifier"]
        for path in ["states/", f"states/{one['states']}/", "labels/", f"labels/{one['labels']}/",
                     "cycles/", "cycles/?cycle_view=current", f"cycles/{one['cycles']}/",
                     "archived-cycles/", f"cycles/{one['cycles']}/cycle-issues/", "modules/",
                     f"modules/{one['modules']}/", "archived-modules/",
                     f"modules/{one['modules']}/module-issues/", "work-items/", "issues/",
                     f"work-items/{one['work_items']}/", f"issues/{one['work_items']}/comments/",
                     "members/", "project-members/", "pages/", f"pages/{one['pages']}/"]:
            self.assertEqual(self.api_json(f"projects/{npid}/{path}", **kw), (403, self.DENIED), path)
        self.assertEqual(self.api_json(f"projects/{npid}/work-items/{one['work_items']}/", method="PATCH",
                                       body={"name": "x"}, **kw), (403, self.DENIED))
        self.assertEqual(self.api_json(f"projects/{npid}/work-items/", method="POST", body={"name": "x"},
                                       **kw), (403, self.DENIED))
        self.assertEqual(self.api_json(f"work-items/{ident}-1/", **kw), (403, self.DENIED))
        status, doc = self.api_json(f"work-items/search/?search={ident}&workspace_search=true", **kw)
        self.assertEqual((status, doc), (200, {"issues": []}))
        # a member project's cycle/module work items, and its search
        cid = next(c["id"] for c in st["cycles"] if c["project"] == p0)
        status, doc = self.api_json(f"projects/{p0}/cycles/{cid}/cycle-issues/", **kw)
        self.assertEqual(status, 200)
        self.assertGreater(doc["count"], 0)
        self.assertEqual({r["project"] for r in doc["results"]}, {p0})
        status, doc = self.api_json(f"work-items/search/?search={info['projects'][0]['identifier']}&limit=3",
                                    **kw)
        self.assertEqual(len(doc["issues"]), 3)
        self.assertEqual(set(doc["issues"][0]), {"name", "id", "sequence_id", "project__identifier",
                                                 "project_id", "workspace__slug"})
        # a secret project of others: not listed, its detail 404
        self.ctl("POST", "config", {"workspace": "nm", "project": npid, "network": 0})
        status, doc = self.api_json("projects/", **kw)
        self.assertEqual([r["id"] for r in doc["results"]], [p0, p1])
        self.assertEqual(self.api_json(f"projects/{npid}/", **kw), (404, self.GONE))
        # membership restored at runtime: listed (secret but member), readable
        self.ctl("POST", "config", {"workspace": "nm", "project": npid, "member": True})
        status, doc = self.api_json("projects/", **kw)
        self.assertEqual(doc["results"][2]["id"], npid)
        self.assertEqual((doc["results"][2]["is_member"], doc["results"][2]["member_role"]), (True, 20))
        self.assertEqual(self.api_json(f"projects/{npid}/states/", **kw)[0], 200)
        # membership removed from a seeded project: still listed (public), lists 403
        self.ctl("POST", "config", {"workspace": "nm", "project": p0, "member": False})
        self.assertEqual(self.api_json(f"projects/{p0}/labels/", **kw), (403, self.DENIED))
        status, doc = self.api_json(f"projects/{p0}/", **kw)
        self.assertEqual((status, doc["is_member"], doc["sort_order"]), (200, False, None))
        # a soft-deleted project: its lists 403 (ProjectMember check first), its own detail 404
        self.ctl("POST", "mutate", {"workspace": "nm", "op": "delete", "type": "project", "id": p1})
        self.assertEqual(self.api_json(f"projects/{p1}/work-items/", **kw), (403, self.DENIED))
        self.assertEqual(self.api_json(f"projects/{p1}/cycles/", **kw), (403, self.DENIED))
        self.assertEqual(self.api_json(f"projects/{p1}/", **kw), (404, self.GONE))
        self.ctl("POST", "config", {"workspace": "nm", "deleted_project_status": 404})
        self.assertEqual(self.api_json(f"projects/{p1}/work-items/", **kw), (404, self.GONE))
        # an unknown project id stays 404; bad control requests are refused
        self.assertEqual(self.api_json("projects/nope/states/", **kw)[0], 404)
        status, _, _ = self.request("POST", "/_sim/config", {"workspace": "nm", "project": npid, "network": 1})
        self.assertEqual(status, 400)
        status, _, _ = self.request("POST", "/_sim/config", {"workspace": "nm", "bogus_switch": True})
        self.assertEqual(status, 400)

    def test_bulk_update_moves_no_updated_at_and_sends_nothing(self):
        st = self.private_ws("bulk")
        pid = st["projects"][0]["id"]
        done = next(s["id"] for s in st["states"] if s["group"] == "completed")
        items = [r for r in st["work_items"] if r["state"] != done]
        victim, parent = items[0], items[1]
        self.ctl("POST", "webhooks/bulk/clear")
        res = self.ctl("POST", "mutate", {"workspace": "bulk", "op": "bulk_update", "type": "work_item",
                                          "id": victim["id"], "fields": {
                                              "state": done, "start_date": "2031-01-01",
                                              "target_date": "2031-01-09", "parent": parent["id"]}})
        self.assertEqual(res["webhooks"], [])
        obj = res["object"]
        self.assertEqual(obj["updated_at"], victim["updated_at"])
        self.assertEqual(obj["updated_by"], victim["updated_by"])
        self.assertEqual((obj["state"], obj["start_date"], obj["target_date"], obj["parent"]),
                         (done, "2031-01-01", "2031-01-09", parent["id"]))
        self.assertIsNotNone(obj["completed_at"])
        self.assertEqual(self.ctl("GET", "webhooks/bulk")["deliveries"], [])
        kw = {"key": "plane_api_bulk", "ws": "bulk"}
        status, doc = self.api_json(f"projects/{pid}/work-items/{victim['id']}/", **kw)
        self.assertEqual((doc["target_date"], doc["state"]), ("2031-01-09", done))
        self.assertEqual(datetime.fromisoformat(doc["updated_at"]),
                         datetime.fromisoformat(victim["updated_at"].replace("Z", "+00:00")))
        # back to an open state: completed_at cleared, still no updated_at change
        res = self.ctl("POST", "mutate", {"workspace": "bulk", "op": "bulk_update", "id": victim["id"],
                                          "fields": {"state": victim["state"]}})
        self.assertEqual((res["object"]["completed_at"], res["object"]["updated_at"]),
                         (None, victim["updated_at"]))
        cyc = st["cycles"][0]
        res = self.ctl("POST", "mutate", {"workspace": "bulk", "op": "bulk_update", "type": "cycle",
                                          "id": cyc["id"], "fields": {"name": "Renamed quietly"}})
        self.assertEqual((res["webhooks"], res["object"]["updated_at"], res["object"]["name"]),
                         ([], cyc["updated_at"], "Renamed quietly"))
        # an ordinary update does move updated_at and does send
        res = self.ctl("POST", "mutate", {"workspace": "bulk", "op": "update", "id": victim["id"],
                                          "fields": {"name": "loud"}})
        self.assertNotEqual(res["object"]["updated_at"], victim["updated_at"])
        self.assertTrue(res["webhooks"])
        status, _, _ = self.request("POST", "/_sim/mutate", {"workspace": "bulk", "op": "bulk_update",
                                                             "type": "project", "id": pid})
        self.assertEqual(status, 400)

    def test_work_items_route_switch(self):
        st = self.private_ws("cev1")
        pid, iid = st["projects"][0]["id"], st["work_items"][0]["id"]
        ident = st["projects"][0]["identifier"]
        kw = {"key": "plane_api_cev1", "ws": "cev1"}
        self.ctl("POST", "config", {"workspace": "cev1", "work_items_route": False})
        self.assertFalse(self.ctl("GET", "config")["workspaces"]["cev1"]["work_items_route"])
        missing = (404, b'{"error": "Page not found."}')
        for path in [f"projects/{pid}/work-items/", f"projects/{pid}/work-items/{iid}/",
                     f"projects/{pid}/work-items/{iid}/comments/", f"work-items/{ident}-1/",
                     "work-items/search/?search=a"]:
            status, _, raw = self.api(path, **kw)
            self.assertEqual((status, raw), missing, path)
            status, _, raw = self.api(path, key=None, ws="cev1")   # a route miss comes before auth
            self.assertEqual((status, raw), missing, path)
        for method, path, body in (("PATCH", f"projects/{pid}/work-items/{iid}/", {"name": "x"}),
                                   ("POST", f"projects/{pid}/work-items/", {"name": "x"})):
            status, _, raw = self.api(path, method=method, body=body, **kw)
            self.assertEqual((status, raw), missing)
        # the legacy issues/ family keeps working
        for path in [f"projects/{pid}/issues/", f"projects/{pid}/issues/{iid}/",
                     f"projects/{pid}/issues/{iid}/comments/", f"issues/{ident}-1/",
                     "issues/search/?search=a"]:
            self.assertEqual(self.api(path, **kw)[0], 200, path)
        status, doc = self.api_json(f"projects/{pid}/issues/{iid}/", method="PATCH",
                                    body={"name": "via issues"}, **kw)
        self.assertEqual((status, doc["name"]), (200, "via issues"))
        self.ctl("POST", "config", {"workspace": "cev1", "work_items_route": True})
        self.assertEqual(self.api(f"projects/{pid}/work-items/", **kw)[0], 200)

    def test_refused_optional_resources(self):
        st = self.private_ws("refuse", pages_enabled=True)
        pid = st["projects"][0]["id"]
        kw = {"key": "plane_api_refuse", "ws": "refuse"}
        wiki = next(p["id"] for p in st["pages"] if p["project"] is None)
        ppage = next(p["id"] for p in st["pages"] if p["project"] == pid)
        cid, mid = st["cycles"][0]["id"], st["modules"][0]["id"]
        self.ctl("POST", "config", {"workspace": "refuse", "refuse": {
            "pages": 403, "archived-cycles": 400, "archived-modules": 404, "cycle-issues": 403,
            "module-issues": 400}})
        plan = {"error": "This feature is not available on your plan."}
        for path, want in [("pages/", (403, self.DENIED)), (f"pages/{wiki}/", (403, self.DENIED)),
                           (f"projects/{pid}/pages/", (403, self.DENIED)),
                           (f"projects/{pid}/pages/{ppage}/", (403, self.DENIED)),
                           (f"projects/{pid}/archived-cycles/", (400, plan)),
                           (f"projects/{pid}/archived-modules/", (404, {"detail": "Not found."})),
                           (f"projects/{pid}/cycles/{cid}/cycle-issues/", (403, self.DENIED)),
                           (f"projects/{pid}/modules/{mid}/module-issues/", (400, plan))]:
            self.assertEqual(self.api_json(path, **kw), want, path)
        self.assertEqual(self.api(f"projects/{pid}/cycles/", **kw)[0], 200)
        # pages disabled: 404 as before, whatever refuse says
        self.ctl("POST", "config", {"workspace": "refuse", "pages_enabled": False})
        self.assertEqual(self.api_json("pages/", **kw), (404, {"detail": "Not found."}))
        self.ctl("POST", "config", {"workspace": "refuse", "pages_enabled": True, "refuse": {}})
        self.assertEqual(self.api("pages/", **kw)[0], 200)
        self.assertEqual(self.api(f"projects/{pid}/archived-cycles/", **kw)[0], 200)
        status, _, _ = self.request("POST", "/_sim/config", {"workspace": "refuse", "refuse": {"wiki": 403}})
        self.assertEqual(status, 400)

    def test_tied_sort_keys_and_tie_shuffle(self):
        self.ctl("POST", "seed", {"workspace": "ties", "projects": 3, "items_per_project": 4,
                                  "cycles_per_project": 4, "modules_per_project": 4,
                                  "labels_per_project": 5, "tied_timestamps": True,
                                  "tied_project_created_at": True, "api_key": "plane_api_ties"})
        st = self.ctl("GET", "state/ties")
        pid = st["projects"][0]["id"]
        kw = {"key": "plane_api_ties", "ws": "ties"}
        for kind in ("labels", "cycles", "modules"):
            self.assertEqual(len({r["created_at"] for r in st[kind] if r["project"] == pid}), 1, kind)
        self.assertEqual({p["created_at"] for p in st["projects"]}.__len__(), 1)
        self.assertEqual({p["sort_order"] for p in st["projects"]}, {65535.0})

        def ids(path):
            return tuple(r["id"] for r in self.api_json(path, **kw)[1]["results"])

        # default: ties broken by id, the same order on every request
        by_id = tuple(sorted(p["id"] for p in st["projects"]))
        self.assertEqual({ids("projects/?order_by=created_at") for _ in range(5)}, {by_id})
        self.assertEqual({ids("projects/") for _ in range(5)}, {by_id})
        self.assertEqual(len({ids(f"projects/{pid}/cycles/") for _ in range(5)}), 1)
        self.ctl("POST", "config", {"workspace": "ties", "tie_shuffle": True})
        labels = sorted(r["id"] for r in st["labels"] if r["project"] == pid)
        for path, members in ((f"projects/{pid}/labels/", labels),
                              (f"projects/{pid}/cycles/", [r["id"] for r in st["cycles"] if r["project"] == pid]),
                              (f"projects/{pid}/modules/", [r["id"] for r in st["modules"] if r["project"] == pid]),
                              ("projects/?order_by=created_at", list(by_id)), ("projects/", list(by_id))):
            orders = {ids(path) for _ in range(25)}
            self.assertGreater(len(orders), 1, path)
            self.assertTrue(all(sorted(o) == sorted(members) for o in orders), path)
        # offset pages over tied rows repeat and skip rows
        walks = []
        for _ in range(20):
            seen = []
            for page in range(3):
                seen += ids(f"projects/{pid}/labels/?per_page=2&cursor=2:{page}:0")
            walks.append(len(set(seen)))
        self.assertLess(min(walks), 5)
        # distinct keys keep their order
        status, doc = self.api_json(f"projects/{pid}/work-items/", **kw)
        created = [r["created_at"] for r in doc["results"]]
        self.assertEqual(created, sorted(created, reverse=True))
        self.ctl("POST", "config", {"workspace": "ties", "tie_shuffle": False})
        self.assertEqual({ids("projects/?order_by=created_at") for _ in range(5)}, {by_id})

    def test_project_timezones_and_cycle_days(self):
        from datetime import time as dtime, timedelta
        from zoneinfo import ZoneInfo
        info = self.ctl("POST", "seed", {"workspace": "tzs", "projects": 2, "items_per_project": 2,
                                         "cycles_per_project": 3, "tz": "Z", "api_key": "plane_api_tzs",
                                         "now": "2026-03-01T12:00:00Z",
                                         "project_timezones": ["Asia/Kolkata", "America/Los_Angeles"]})
        st = self.ctl("GET", "state/tzs")
        zones = {p["id"]: p["timezone"] for p in st["projects"]}
        self.assertEqual(list(zones.values()), ["Asia/Kolkata", "America/Los_Angeles"])
        kolkata, la = [p["id"] for p in info["projects"]]
        for c in st["cycles"]:
            self.assertEqual(c["timezone"], zones[c["project"]])
            zone = ZoneInfo(c["timezone"])
            start = datetime.fromisoformat(c["start_date"].replace("Z", "+00:00")).astimezone(zone)
            end = datetime.fromisoformat(c["end_date"].replace("Z", "+00:00")).astimezone(zone)
            self.assertEqual((start.time(), start.date().isoformat()), (dtime(0, 0, 1), c["_start_day"]))
            self.assertEqual((end.time(), end.date().isoformat()), (dtime(23, 59), c["_end_day"]))
        # cycles follow each other day by day
        for pid in (kolkata, la):
            cyc = sorted((c for c in st["cycles"] if c["project"] == pid), key=lambda c: c["_start_day"])
            for a, b in zip(cyc, cyc[1:]):
                self.assertEqual(datetime.fromisoformat(a["_end_day"]) + timedelta(days=1),
                                 datetime.fromisoformat(b["_start_day"]))
        # rendered in the key owner's zone (UTC): the first 10 characters are a day off
        status, doc = self.api_json(f"projects/{kolkata}/cycles/", key="plane_api_tzs", ws="tzs")
        days = {c["id"]: c["_start_day"] for c in st["cycles"]}
        for c in doc["results"]:
            self.assertTrue(c["start_date"].endswith("Z"))
            self.assertNotEqual(c["start_date"][:10], days[c["id"]])
            self.assertEqual(c["timezone"], "Asia/Kolkata")
        status, doc = self.api_json(f"projects/{la}/cycles/", key="plane_api_tzs", ws="tzs")
        ends = {c["id"]: c["_end_day"] for c in st["cycles"]}
        self.assertTrue(all(c["end_date"][:10] != ends[c["id"]] for c in doc["results"]))
        # default: UTC projects and cycles, days still exposed
        self.assertEqual({p["timezone"] for p in self.state["projects"]}, {"UTC"})
        c = self.ctl("GET", "state/acme")["cycles"][0]
        self.assertEqual((c["timezone"], c["_start_day"]), ("UTC", c["start_date"][:10]))

    def test_page_size_cap(self):
        self.private_ws("cap", items_per_project=250, pages_enabled=True)
        pid = self.ctl("GET", "state/cap")["projects"][0]["id"]
        kw = {"key": "plane_api_cap", "ws": "cap"}
        items = f"projects/{pid}/work-items/"
        self.ctl("POST", "config", {"workspace": "cap", "page_size_cap": 100})
        self.assertEqual(self.api_json(items + "?per_page=101", **kw),
                         (400, {"detail": "Invalid per_page value. Cannot exceed 100."}))
        status, doc = self.api_json(items, **kw)
        self.assertEqual((doc["count"], doc["next_cursor"]), (100, "100:1:0"))
        self.ctl("POST", "config", {"workspace": "cap", "page_size_mode": "clamp"})
        status, doc = self.api_json(items + "?per_page=250", **kw)
        self.assertEqual((status, doc["count"], doc["next_cursor"], doc["prev_cursor"], doc["total_pages"]),
                         (200, 100, "100:1:0", "100:-1:1", 3))
        status, clamped = self.api_json(items + "?per_page=250&cursor=250:1:0", **kw)
        status, ref = self.api_json(items + "?per_page=100&cursor=100:1:0", **kw)
        self.assertEqual([r["id"] for r in clamped["results"]], [r["id"] for r in ref["results"]])
        self.assertEqual(clamped["next_cursor"], "100:2:0")
        # pages: documented default 20 / max 100, lowered by a smaller cap
        status, doc = self.api_json("pages/?per_page=500", **kw)
        self.assertEqual((status, doc["next_cursor"]), (200, "100:1:0"))
        self.ctl("POST", "config", {"workspace": "cap", "page_size_cap": 1, "page_size_mode": "reject"})
        status, doc = self.api_json("pages/", **kw)
        self.assertEqual((doc["count"], doc["next_cursor"]), (1, "1:1:0"))
        self.assertEqual(self.api_json("projects/?per_page=2", **kw)[0], 400)
        self.ctl("POST", "config", {"workspace": "cap", "page_size_cap": 1000})
        self.assertEqual(self.api_json("pages/?per_page=101", **kw),
                         (400, {"detail": "Invalid per_page value. Cannot exceed 100."}))
        self.assertEqual(self.api_json(items + "?per_page=1000", **kw)[1]["count"], 250)

    def test_v2_cloud_webhook_shape(self):
        st = self.private_ws("cloud")
        pid = st["projects"][0]["id"]
        victim = st["work_items"][2]
        other = next(s["id"] for s in st["states"] if s["id"] != victim["state"] and s["group"] != "triage")
        self.ctl("POST", "config", {"workspace": "cloud", "v2_shape": "cloud"})

        def v2(res):
            d = next(d for d in res["webhooks"] if d["version"] == "v2")
            body = d["body"].encode()
            self.assertEqual(d["headers"]["X-Plane-Signature"],
                             hmac.new(b"plane_wh_secret", body, hashlib.sha256).hexdigest())
            return json.loads(body)

        def no_nulls(v):
            if isinstance(v, dict):
                return all(no_nulls(x) for x in v.values())
            if isinstance(v, list):
                return all(no_nulls(x) for x in v)
            return v is not None

        res = self.ctl("POST", "mutate", {"workspace": "cloud", "op": "update", "id": victim["id"],
                                          "fields": {"name": "cloudy", "state": other}})
        q = v2(res)
        data = q["data"]
        for rest, cloud in (("state", "state_id"), ("labels", "label_ids"), ("assignees", "assignee_ids"),
                            ("parent", "parent_id"), ("project", "project_id"),
                            ("workspace", "workspace_id"), ("estimate_point", "estimate_point_id"),
                            ("type", "type_id")):
            self.assertIn(cloud, data)
            self.assertNotIn(rest, data)
        self.assertEqual((data["state_id"], data["project_id"], data["label_ids"]),
                         (other, pid, victim["labels"]))
        self.assertEqual((data["estimate_point_id"], data["deleted_at"]), ("None", "None"))
        self.assertTrue(no_nulls(data))
        self.assertRegex(data["updated_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
        self.assertEqual(q["previous_attributes"], {"name": victim["name"], "state_id": victim["state"]})
        v1 = json.loads(next(d for d in res["webhooks"] if d["version"] == "v1")["body"])
        self.assertIsInstance(v1["data"]["state"], dict)   # v1 is unchanged
        # archive: the full previous record, Postgres text datetimes
        q = v2(self.ctl("POST", "mutate", {"workspace": "cloud", "op": "archive", "id": victim["id"]}))
        prev = q["previous_attributes"]
        self.assertEqual((q["event"], q["data"]), ("workitem.archived", {}))
        self.assertRegex(prev["created_at"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00$")
        self.assertEqual((prev["project_id"], prev["state_id"]), (pid, other))
        self.assertIsNone(prev["estimate_point_id"])
        cyc, mod = st["cycles"][0], st["modules"][0]
        data = v2(self.ctl("POST", "mutate", {"workspace": "cloud", "op": "update", "type": "cycle",
                                              "id": cyc["id"], "fields": {"name": "c2"}}))["data"]
        self.assertEqual((data["project_id"], data["owned_by_id"]), (pid, cyc["owned_by"]))
        self.assertNotIn("owned_by", data)
        self.assertTrue(data["start_date"].endswith("+00:00"))
        data = v2(self.ctl("POST", "mutate", {"workspace": "cloud", "op": "update", "type": "module",
                                              "id": mod["id"], "fields": {"name": "m2"}}))["data"]
        self.assertEqual((data["lead_id"], data["member_ids"]), (mod["lead"], mod["members"]))
        self.assertNotIn("members", data)
        # default "rest": today's data
        self.ctl("POST", "config", {"workspace": "cloud", "v2_shape": "rest"})
        q = v2(self.ctl("POST", "mutate", {"workspace": "cloud", "op": "update", "type": "cycle",
                                           "id": cyc["id"], "fields": {"name": "c3"}}))
        self.assertEqual(q["data"]["project"], pid)
        self.assertIsNone(q["data"]["deleted_at"])

    def test_trim_writes(self):
        info = self.ctl("POST", "seed", {"workspace": "trim", "projects": 2, "items_per_project": 5,
                                         "members": 6, "project_member_fraction": 0.5, "seed": 2,
                                         "api_key": "plane_api_trim"})
        kw = {"key": "plane_api_trim", "ws": "trim"}
        p0, p1 = [p["id"] for p in info["projects"]]
        in_p0 = [u["id"] for u in info["users"] if p0 in u["projects"]]
        outsider = next(u["id"] for u in info["users"] if p0 not in u["projects"])
        self.assertIn(info["owner"], in_p0)
        st = self.ctl("GET", "state/trim")
        self.assertEqual(st["projects"][0]["_members"], in_p0)
        self.assertEqual([u["id"] for u in self.api_json(f"projects/{p0}/members/", **kw)[1]], in_p0)
        self.assertEqual(st["projects"][0]["total_members"], len(in_p0))
        own = next(r["id"] for r in st["labels"] if r["project"] == p0)
        foreign = next(r["id"] for r in st["labels"] if r["project"] == p1)
        item = next(r["id"] for r in st["work_items"] if r["project"] == p0)
        body = {"assignees": [info["owner"], outsider], "labels": [own, foreign]}
        status, doc = self.api_json(f"projects/{p0}/work-items/{item}/", method="PATCH", body=body, **kw)
        self.assertEqual((status, doc["assignees"], doc["labels"]), (200, body["assignees"], body["labels"]))
        self.ctl("POST", "config", {"workspace": "trim", "trim_writes": True})
        status, doc = self.api_json(f"projects/{p0}/work-items/{item}/", method="PATCH", body=body, **kw)
        self.assertEqual((status, doc["assignees"], doc["labels"]), (200, [info["owner"]], [own]))
        status, doc = self.api_json(f"projects/{p0}/work-items/", method="POST",
                                    body=dict(body, name="trimmed"), **kw)
        self.assertEqual((status, doc["assignees"], doc["labels"]), (201, [info["owner"]], [own]))
        # a guest (role 5) of the project is trimmed too
        guest = next(u for u in in_p0 if u != info["owner"])
        self.ctl("POST", "config", {"workspace": "trim", "project": p0, "member": True, "user": guest,
                                    "role": 5})
        status, doc = self.api_json(f"projects/{p0}/work-items/{item}/", method="PATCH",
                                    body={"assignees": [guest, info["owner"]]}, **kw)
        self.assertEqual(doc["assignees"], [info["owner"]])
        # MCP writes go through the same validation
        sid = self.mcp_session("trim")
        res = self.mcp_call(sid, "workitem", {"action": "update", "project_id": p0, "work_item_id": item,
                                              "assignees": [outsider], "labels": [foreign, own]}, ws="trim")
        self.assertFalse(res["result"]["isError"])
        self.assertEqual((res["result"]["structuredContent"]["assignees"],
                          res["result"]["structuredContent"]["labels"]), ([], [own]))

    def test_mcp_hosted_endpoints_and_sessions(self):
        self.addCleanup(self.ctl, "POST", "mcp/config", {})
        self.private_ws("mcph")
        self.ctl("POST", "tokens", {"workspace": "mcph", "token": "mcph-bearer"})
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        base = dict(self.MCP_HEADERS, **{"X-Workspace-slug": "mcph"})
        key = dict(base, Authorization="Bearer plane_api_mcph")
        bearer = dict(base, Authorization="Bearer mcph-bearer")

        def post(path, msg, headers, sid=None):
            h = dict(headers, **({"Mcp-Session-Id": sid} if sid else {}))
            status, hdrs, raw = self.request_raw("POST", path, json.dumps(msg).encode(), h)
            return status, hdrs, (json.loads(raw) if raw else None)

        # hosted API-key endpoint: an OAuth/bearer token is not an API key
        status, hdrs, _ = post("/http/api-key/mcp", init, bearer)
        self.assertEqual(status, 401)
        self.assertIn("Bearer", hdrs["WWW-Authenticate"])
        # the OAuth proxy takes no raw Plane credential
        for h in (key, bearer):
            status, hdrs, _ = post("/http/mcp", init, h)
            self.assertEqual(status, 401)
            self.assertIn("Bearer", hdrs["WWW-Authenticate"])
        # each hosted MCP request spends one slot of the key's REST bucket
        self.ctl("POST", "config", {"rate_limit": 3, "rate_window": 60, "reset_buckets": True})
        status, hdrs, _ = post("/http/api-key/mcp", init, key)
        self.assertEqual(status, 200)
        sid = hdrs["Mcp-Session-Id"]
        self.assertEqual(post("/http/api-key/mcp", ping, key, sid)[0], 200)
        self.assertEqual(self.api("projects/", key="plane_api_mcph", ws="mcph")[0], 200)
        status, hdrs, doc = post("/http/api-key/mcp", ping, key, sid)
        self.assertEqual((status, doc), (429, {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}))
        self.assertGreaterEqual(int(hdrs["Retry-After"]), 1)
        self.assertEqual(self.api("projects/", key="plane_api_mcph", ws="mcph")[0], 429)
        sid2 = self.mcp_session("mcph")    # /mcp is not rate-limited
        self.ctl("POST", "config", {"rate_limit": 0, "reset_buckets": True})
        # require_api_key on /mcp
        self.ctl("POST", "mcp/config", {"require_api_key": True})
        self.assertEqual(post("/mcp", init, bearer)[0], 401)
        self.assertEqual(post("/mcp", init, key)[0], 200)
        # unknown session: 404 (spec) or 400 (older SDKs)
        status, _, doc = post("/mcp", ping, key, "no-such-session")
        self.assertEqual((status, doc["error"]["message"]), (404, "Session not found"))
        self.ctl("POST", "mcp/config", {"stale_session_status": 400})
        status, _, doc = post("/mcp", ping, key, "no-such-session")
        self.assertEqual((status, doc["error"]["message"]), (400, "Bad Request: No valid session ID provided"))
        # live sessions are listed; DELETE ends one; an idle session expires after session_ttl_s
        state = self.ctl("GET", "mcp")
        self.assertIn(sid2, state["sessions"])
        self.assertEqual(state["live_sessions"], len(state["sessions"]))
        self.assertEqual(self.request_raw("DELETE", "/mcp", headers=dict(key, **{"Mcp-Session-Id": sid2}))[0],
                         200)
        self.assertNotIn(sid2, self.ctl("GET", "mcp")["sessions"])
        self.assertEqual(post("/mcp", ping, key, sid2)[0], 400)
        self.assertEqual(post("/mcp", ping, key, sid)[0], 200)
        self.ctl("POST", "mcp/config", {"session_ttl_s": 0.05})
        time.sleep(0.1)    # not synchronisation: the session must be idle longer than its TTL
        self.assertNotIn(sid, self.ctl("GET", "mcp")["sessions"])
        self.assertEqual(post("/mcp", ping, key, sid)[0], 404)
        status, _, _ = self.request("POST", "/_sim/mcp/config", {"stale_session_status": 410})
        self.assertEqual(status, 400)

    def test_oauth_install_redirect_without_state(self):
        self.addCleanup(self.ctl, "POST", "oauth/config", {})
        app = self.oauth_app("oauthns")
        self.assertEqual(self.ctl("GET", "oauth/config"), {"config": {"omit_state": False}})
        self.ctl("POST", "oauth/config", {"omit_state": True})
        self.assertEqual(self.ctl("GET", "oauth/config"), {"config": {"omit_state": True}})
        status, hdrs, _ = self.authorize(app, state="st-ns")
        self.assertEqual(status, 302)
        q = parse_qs(urlsplit(hdrs["Location"]).query)
        self.assertEqual(set(q), {"tenant", "code", "app_installation_id"})
        self.ctl("POST", "oauth/config", {})
        status, hdrs, _ = self.authorize(app, state="st-ns")
        self.assertEqual(parse_qs(urlsplit(hdrs["Location"]).query)["state"], ["st-ns"])

    def test_profile_real_and_config_doc(self):
        self.private_ws("prof", pages_enabled=True)
        kw = {"key": "plane_api_prof", "ws": "prof"}
        cfg = self.ctl("GET", "config")["workspaces"]["prof"]
        self.assertEqual({k: cfg[k] for k in ("tie_shuffle", "v2_shape", "trim_writes", "refuse",
                                              "page_size_cap", "page_size_mode", "work_items_route")},
                         {"tie_shuffle": False, "v2_shape": "rest", "trim_writes": False, "refuse": {},
                          "page_size_cap": 1000, "page_size_mode": "reject", "work_items_route": True})
        doc = self.ctl("POST", "config", {"workspace": "prof", "profile": "real"})
        self.assertEqual({k: doc["workspaces"]["prof"][k] for k in ("tie_shuffle", "v2_shape", "trim_writes",
                                                                    "refuse", "page_size_cap",
                                                                    "page_size_mode")},
                         {"tie_shuffle": True, "v2_shape": "cloud", "trim_writes": True,
                          "refuse": {"pages": 403}, "page_size_cap": 100, "page_size_mode": "reject"})
        self.assertEqual(self.api_json("pages/", **kw), (403, self.DENIED))
        self.assertEqual(self.api_json("projects/?per_page=101", **kw)[0], 400)
        self.ctl("POST", "config", {"workspace": "prof", "refuse": {}})   # a later override
        self.assertEqual(self.api("pages/", **kw)[0], 200)
        self.assertTrue(self.ctl("GET", "config")["workspaces"]["prof"]["tie_shuffle"])
        self.ctl("POST", "config", {"workspace": "prof", "profile": "default"})
        self.assertFalse(self.ctl("GET", "config")["workspaces"]["prof"]["tie_shuffle"])
        # re-seeding a workspace starts from the defaults again
        self.ctl("POST", "config", {"workspace": "prof", "profile": "real"})
        self.private_ws("prof")
        self.assertEqual(self.ctl("GET", "config")["workspaces"]["prof"]["v2_shape"], "rest")

def sse_data(text):
    """The data of each event of a text/event-stream body (multi-line data joined with \\n)."""
    events, data = [], None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if data is not None:
                events.append("\n".join(data))
            data = None
        elif line.startswith("data:"):
            value = line[5:]
            data = (data or []) + [value[1:] if value.startswith(" ") else value]
    if data is not None:
        events.append("\n".join(data))
    return events


if __name__ == "__main__":
    unittest.main()
