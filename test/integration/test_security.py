"""Secrets never leak: after a sync, webhook deliveries (good and forged), failing calls and a
missing secret, distinctive secret values appear in no server log line, no table outside Vault,
and no pg_stat_activity entry."""
import hashlib
import hmac
import json
import unittest

from harness import MirrorTestCase, query, scalar, wait_until

API_KEY = "plane_api_LEAKCANARY_a1b2c3d4e5f60718293a4b5c"
WRONG_KEY = "plane_api_WRONGCANARY_99887766554433221100ff"
WEBHOOK_SECRET = "plane_wh_HOOKCANARY_0f1e2d3c4b5a69788796a5b4"


class LeakTest(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.max_attempts = 2",
                    "log_min_messages = debug1", "log_error_verbosity = verbose"]

    def all_text_outside_vault(self):
        """Every row of every table outside vault and the system catalogs, as text."""
        tables = query(self.conn, """
            SELECT format('%I.%I', n.nspname, c.relname) AS t
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'v', 'm')
               AND n.nspname NOT IN ('vault', 'pg_catalog', 'information_schema', 'pg_toast')""")
        chunks = []
        for t in tables:
            chunks += [r["x"] for r in query(self.conn, f"SELECT t::text AS x FROM {t['t']} t")]
        return "\n".join(chunks)

    def test_secrets_never_leak(self):
        self.add_workspace("leaky", projects=1, items=20, key=API_KEY, webhook_secret=WEBHOOK_SECRET)
        run = self.wait_for_run_end("leaky")
        self.assertEqual(run["action"], "sync", run["details"])
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_webhook_secret:leaky')", (WEBHOOK_SECRET,))
        truth = self.sim.state("leaky")
        out = self.sim.mutate(workspace="leaky", op="update", type="work_item", id=truth["work_items"][0]["id"],
                              project=truth["projects"][0]["id"], fields={"name": "after leak test"})
        for d in out["webhooks"]:
            self.assertEqual(scalar(self.conn, "SELECT work_plane.ingest_webhook('leaky', %s::jsonb, %s)",
                                    (json.dumps(d["headers"]), d["body"])), 200)
        # A forged delivery that carries the secret in its body and in a header.
        forged = json.dumps({"event": "issue", "action": "updated", "secret": WEBHOOK_SECRET})
        self.assertEqual(scalar(self.conn, "SELECT work_plane.ingest_webhook('leaky', %s::jsonb, %s)",
                                (json.dumps({"X-Plane-Signature": "00" * 32, "X-Debug": WEBHOOK_SECRET}), forged)), 401)
        wait_until(lambda: scalar(self.conn, "SELECT pending + processing FROM work_plane.queue_status") == 0)
        # A failing sync with a wrong key, then a missing key.
        secret_id = scalar(self.conn, "SELECT id FROM vault.secrets WHERE name = 'plane_api_key:leaky'")
        scalar(self.conn, "SELECT vault.update_secret(%s, %s)", (secret_id, WRONG_KEY))
        run = self.sync("leaky")
        self.assertEqual(run["action"], "sync_failed")
        scalar(self.conn, "DELETE FROM vault.secrets WHERE name = 'plane_api_key:leaky'")
        run = self.sync("leaky")
        self.assertEqual(run["action"], "sync_failed")
        self.assertIn("plane_api_key:leaky", run["details"]["error"])
        # Search everywhere outside Vault.
        activity = "\n".join(r["q"] or "" for r in query(
            self.conn, "SELECT query AS q FROM pg_stat_activity WHERE pid <> pg_backend_pid()"))
        haystacks = {"server log": self.cluster.server_log(), "tables": self.all_text_outside_vault(),
                     "pg_stat_activity": activity}
        for where, text in haystacks.items():
            for canary in (API_KEY, WRONG_KEY, WEBHOOK_SECRET, "LEAKCANARY", "WRONGCANARY", "HOOKCANARY"):
                self.assertNotIn(canary, text, f"{canary} found in {where}")
        # The searches can find things: the mirror's own data is there.
        self.assertIn("after leak test", haystacks["tables"])


class OAuthLeakTest(LeakTest):
    """The same search after the OAuth flow, renewals (a rotation, a lapsed bot token) and a
    refused refresh: neither the client secret nor any token Plane issued is found."""
    CLIENT_SECRET = "plane_secret_OAUTHCANARY_77aa66bb55cc44dd"

    def test_secrets_never_leak(self):  # replaces the API-key scenario of LeakTest
        from test_oauth import CLIENT_ID, REDIRECT, follow_authorize
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_oauth_client_id')", (CLIENT_ID,))
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_oauth_client_secret')", (self.CLIENT_SECRET,))
        self.add_workspace("oleaky", projects=1, items=20, store_key=False)
        self.wait_for_run_end("oleaky")
        self.sim.control("POST", "oauth/apps", {"workspace": "oleaky", "client_id": CLIENT_ID,
                                                "client_secret": self.CLIENT_SECRET, "redirect_uri": REDIRECT})
        params = follow_authorize(scalar(self.conn, "SELECT work_plane.oauth_authorize_url('oleaky', %s)", (REDIRECT,)))
        scalar(self.conn, "SELECT work_plane.oauth_callback(%s, %s, %s)",
               (params["code"], params["state"], params["app_installation_id"]))
        tokens = set()

        def collect():
            tokens.update(r["s"] for r in query(self.conn, "SELECT decrypted_secret AS s FROM vault.decrypted_secrets "
                                                           "WHERE name LIKE 'plane\\_%%:oleaky:%%'"))
        collect()
        self.assertEqual(self.sync("oleaky")["action"], "sync")
        # A lapsed bot token is requested again; a failing call carries a token in its error path.
        self.sim.control("POST", "oauth/expire", {"client_id": CLIENT_ID, "kind": "bot"})
        self.assertEqual(self.sync("oleaky")["action"], "sync")
        collect()
        # User mode: a refresh (rotation), then a refused one.
        params = follow_authorize(scalar(self.conn, "SELECT work_plane.oauth_authorize_url('oleaky', %s)", (REDIRECT,)))
        scalar(self.conn, "SELECT work_plane.oauth_callback(%s, %s)", (params["code"], params["state"]))
        collect()
        self.sim.control("POST", "oauth/expire", {"client_id": CLIENT_ID, "kind": "access"})
        self.assertEqual(self.sync("oleaky")["action"], "sync")
        collect()
        self.sim.control("POST", "oauth/faults", {"fail_next_refresh": 1})
        self.sim.control("POST", "oauth/expire", {"client_id": CLIENT_ID, "kind": "access"})
        self.assertEqual(self.sync("oleaky")["action"], "sync_failed")
        self.assertGreaterEqual(len(tokens), 5)   # access, refresh, bot, and their successors
        activity = "\n".join(r["q"] or "" for r in query(
            self.conn, "SELECT query AS q FROM pg_stat_activity WHERE pid <> pg_backend_pid()"))
        haystacks = {"server log": self.cluster.server_log(), "tables": self.all_text_outside_vault(),
                     "pg_stat_activity": activity}
        for where, text in haystacks.items():
            for canary in [self.CLIENT_SECRET, "OAUTHCANARY", *tokens]:
                self.assertNotIn(canary, text, f"a secret ({canary[:8]}...) found in {where}")
        # The searches can find things: the names of the secrets are there.
        self.assertIn("plane_token:oleaky:bot", haystacks["tables"])


if __name__ == "__main__":
    unittest.main()
