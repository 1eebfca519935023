"""work_plane.mcp_call / mcp_tools against a local MCP server speaking streamable HTTP
(JSON-RPC 2.0; replies as application/json or text/event-stream), policy-gated and audited."""
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

from harness import MirrorTestCase, query, scalar, wait_until

TOOLS = [
    {"name": "workitem", "description": "Work items", "inputSchema": {"type": "object"},
     "annotations": {"readOnlyHint": False, "destructiveHint": True}},
    {"name": "get_me", "description": "Who am I", "inputSchema": {"type": "object"},
     "annotations": {"readOnlyHint": True}},
]


class FakeMcp:
    """A minimal MCP server on loopback: enough of the protocol for the client's real paths."""

    def __init__(self):
        self.mode = "json"          # or "sse", "error500", "rpc_error"
        self.calls = []
        self.auth = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, message=None, headers=None):
                if message is None:
                    body, ctype = b"", "application/json"
                elif owner.mode == "sse":
                    body = (": keep-alive\r\nevent: message\r\ndata: " + json.dumps(message) + "\r\n\r\n").encode()
                    ctype = "text/event-stream"
                else:
                    body, ctype = json.dumps(message).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                msg = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.auth.append((self.headers.get("Authorization"), self.headers.get("X-Workspace-slug")))
                if owner.mode == "error500":
                    return self.reply(500, {"error": "boom"})
                method, mid = msg.get("method"), msg.get("id")
                if mid is None:
                    return self.reply(202)
                if method == "initialize":
                    return self.reply(200, {"jsonrpc": "2.0", "id": mid, "result": {
                        "protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
                        "serverInfo": {"name": "fake-plane-mcp"}}}, {"Mcp-Session-Id": "sess-1"})
                if self.headers.get("Mcp-Session-Id") != "sess-1":
                    return self.reply(400, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32600, "message": "no session"}})
                if method == "tools/list":
                    return self.reply(200, {"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
                if method == "tools/call":
                    owner.calls.append(msg["params"])
                    if owner.mode == "rpc_error":
                        return self.reply(200, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "bad arguments"}})
                    text = json.dumps({"tool": msg["params"]["name"], "arguments": msg["params"].get("arguments")})
                    return self.reply(200, {"jsonrpc": "2.0", "id": mid, "result": {
                        "content": [{"type": "text", "text": text}], "isError": False}})
                return self.reply(200, {"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no such method"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mcp"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class McpTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mcp = FakeMcp()

    @classmethod
    def tearDownClass(cls):
        cls.mcp.stop()
        super().tearDownClass()

    def setUp(self):
        self.mcp.mode = "json"

    def install(self, slug):
        key = self.add_workspace(slug, projects=1, items=3)
        self.wait_for_run_end(slug)
        scalar(self.conn, "SELECT workspace_slug FROM work_plane.add_installation(%s, mcp_url => %s)",
               (slug, self.mcp.url))
        return key

    def logged(self, slug):
        return wait_until(lambda: query(self.conn, "SELECT * FROM ops.run_events WHERE source = 'plane_mcp' "
                                                   "AND workspace_slug = %s ORDER BY id", (slug,)),
                          timeout=10, message="an MCP audit row")

    def call(self, slug, tool, args):
        return scalar(self.conn, "SELECT work_plane.mcp_call(%s, %s, %s::jsonb)", (slug, tool, json.dumps(args)))

    def test_read_calls_work_with_json_and_sse_replies(self):
        key = self.install("mcp-read")
        for mode in ("json", "sse"):
            self.mcp.mode = mode
            result = self.call("mcp-read", "workitem", {"action": "list", "project_id": "p"})
            self.assertFalse(result["isError"])
            self.assertEqual(json.loads(result["content"][0]["text"])["arguments"]["action"], "list")
        self.assertIn((f"Bearer {key}", "mcp-read"), self.mcp.auth)  # credentials from Vault, at call time
        tools = scalar(self.conn, "SELECT work_plane.mcp_tools('mcp-read')")
        self.assertEqual({t["name"]: t["mutating"] for t in tools}, {"workitem": True, "get_me": False})
        rows = self.logged("mcp-read")
        self.assertIn("workitem.list", [r["action"] for r in rows])
        self.assertTrue(all(r["plane_response_status"] == 200 for r in rows))
        self.assertNotIn(key, json.dumps([r["details"] for r in rows]))

    def test_mutating_calls_are_refused_and_logged_while_disabled(self):
        self.install("mcp-gate")
        before = len(self.mcp.calls)
        with self.assertRaises(psycopg2.Error) as ctx:
            self.call("mcp-gate", "workitem", {"action": "update", "id": "x", "name": "n", "api_token": "hush"})
        self.assertIn("refused", str(ctx.exception))
        self.assertEqual(len(self.mcp.calls), before)  # never sent
        row = wait_until(lambda: [r for r in query(self.conn, "SELECT * FROM ops.run_events WHERE source = 'plane_mcp' "
                                                               "AND workspace_slug = 'mcp-gate'")
                                  if r["action"] == "workitem.update"], message="the refusal in the audit log")[0]
        self.assertEqual(row["details"]["refused"], "writeback_policy is disabled")
        self.assertEqual(row["details"]["arguments"]["api_token"], "[redacted]")
        scalar(self.conn, "SELECT work_plane.set_writeback_policy('mcp-gate', 'enabled', 'keep_local')")
        result = self.call("mcp-gate", "workitem", {"action": "update", "id": "x", "name": "n"})
        self.assertFalse(result["isError"])
        self.assertEqual(len(self.mcp.calls), before + 1)

    def test_errors_are_clear_sql_errors_and_logged(self):
        self.install("mcp-err")
        self.mcp.mode = "rpc_error"
        with self.assertRaises(psycopg2.Error) as ctx:
            self.call("mcp-err", "get_me", {})
        self.assertIn("bad arguments", str(ctx.exception))
        self.mcp.mode = "error500"
        with self.assertRaises(psycopg2.Error) as ctx:
            self.call("mcp-err", "get_me", {})
        self.assertIn("500", str(ctx.exception))
        scalar(self.conn, "UPDATE work_plane.installations SET mcp_url = 'http://127.0.0.1:9/mcp' "
                          "WHERE workspace_slug = 'mcp-err'")
        with self.assertRaises(psycopg2.Error):
            self.call("mcp-err", "get_me", {})
        rows = wait_until(lambda: (lambda r: r if len(r) >= 3 else None)(
            query(self.conn, "SELECT * FROM ops.run_events WHERE source = 'plane_mcp' AND workspace_slug = 'mcp-err' "
                             "ORDER BY id")), timeout=10, message="three logged failures")
        self.assertTrue(all("error" in r["details"] for r in rows[-3:]))
        self.assertEqual(rows[-2]["plane_response_status"], 500)


if __name__ == "__main__":
    unittest.main()


class McpSimulatorTest(MirrorTestCase):
    """The same calls against the Plane simulator's own MCP endpoint (its data, its tools)."""
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'"]

    def test_simulator_mcp_reads_writes_and_gate(self):
        self.add_workspace("mcpsim", projects=1, items=5)
        self.wait_for_run_end("mcpsim")
        scalar(self.conn, "SELECT workspace_slug FROM work_plane.add_installation('mcpsim', mcp_url => %s)",
               (self.sim.url + "/mcp",))
        truth = self.sim.state("mcpsim")
        project = truth["projects"][0]["id"]
        target = truth["work_items"][0]["id"]
        for mode in ("json", "sse"):
            self.sim.control("POST", "mcp/config", {"mode": mode})
            result = scalar(self.conn, "SELECT work_plane.mcp_call('mcpsim', 'workitem', %s::jsonb)",
                            (json.dumps({"action": "list", "project_id": project}),))
            self.assertFalse(result.get("isError"), result)
        self.sim.control("POST", "mcp/config", {})
        update = json.dumps({"action": "update", "project_id": project, "work_item_id": target, "name": "via MCP"})
        with self.assertRaises(psycopg2.Error):
            scalar(self.conn, "SELECT work_plane.mcp_call('mcpsim', 'workitem', %s::jsonb)", (update,))
        scalar(self.conn, "SELECT work_plane.set_writeback_policy('mcpsim', 'enabled', 'plane_wins')")
        result = scalar(self.conn, "SELECT work_plane.mcp_call('mcpsim', 'workitem', %s::jsonb)", (update,))
        self.assertFalse(result.get("isError"), result)
        self.assertEqual({i["id"]: i for i in self.sim.state("mcpsim")["work_items"]}[target]["name"], "via MCP")
        actions = wait_until(lambda: (lambda r: r if len(r) >= 4 else None)(
            [r["action"] for r in query(self.conn, "SELECT action FROM ops.run_events WHERE source = 'plane_mcp' "
                                                   "AND workspace_slug = 'mcpsim' ORDER BY id")]),
            timeout=10, message="four audited MCP calls")
        self.assertEqual(actions.count("workitem.update"), 2)  # refused, then applied

    def test_plane_hosted_endpoints_sessions_ended_and_tool_errors_audited(self):
        self.add_workspace("mcphost", projects=1, items=3)
        self.wait_for_run_end("mcphost")
        # Plane's hosted API-key endpoint: the bearer must be an API key (one checked request each).
        scalar(self.conn, "SELECT workspace_slug FROM work_plane.add_installation('mcphost', mcp_url => %s)",
               (self.sim.url + "/http/api-key/mcp",))
        self.sim.control("POST", "mcp/config", {"stale_session_status": 400})
        self.sim.control("POST", "mcp/reset", {})
        project = self.sim.state("mcphost")["projects"][0]["id"]
        result = scalar(self.conn, "SELECT work_plane.mcp_call('mcphost', 'workitem', %s::jsonb)",
                        (json.dumps({"action": "list", "project_id": project}),))
        self.assertFalse(result.get("isError"), result)
        # A tool that fails answers a normal result with isError: audited as a failed call.
        result = scalar(self.conn, "SELECT work_plane.mcp_call('mcphost', 'workitem', %s::jsonb)",
                        (json.dumps({"action": "retrieve", "project_id": project, "work_item_id": "nope"}),))
        self.assertTrue(result.get("isError"), result)
        rows = wait_until(lambda: (lambda r: r if len(r) >= 2 else None)(query(
            self.conn, "SELECT action, details FROM ops.run_events WHERE source = 'plane_mcp' "
                       "AND workspace_slug = 'mcphost' ORDER BY id")), timeout=10, message="two audited calls")
        self.assertEqual([r["details"]["outcome"] for r in rows[-2:]], ["ok", "failed"])
        self.assertTrue(rows[-1]["details"]["error"])
        # Every session was ended with DELETE: none is left on the server.
        self.assertEqual(self.sim.control("GET", "mcp")["live_sessions"], 0)
        # Plane's OAuth endpoint takes no Plane credential at all: a clear error, nothing mirrored.
        scalar(self.conn, "SELECT workspace_slug FROM work_plane.add_installation('mcphost', mcp_url => %s)",
               (self.sim.url + "/http/mcp",))
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.mcp_tools('mcphost')")
        self.assertIn("refused the credential", str(e.exception))
        self.sim.control("POST", "mcp/config", {})
