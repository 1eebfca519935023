"""OAuth2 for Plane apps against the simulator's OAuth endpoints: the install flow (user token and
app bot token), the state's CSRF rules, token renewal (before expiry, after an early rejection in
the middle of a backfill, and from the launcher on its own), rotation of refresh tokens, a refused
refresh that leaves the installation waiting for re-authorisation, and who may call what."""
import urllib.error
import urllib.parse
import urllib.request
import time
import unittest

import psycopg2

from harness import MirrorTestCase, query, scalar, wait_until

CLIENT_ID = "plane_client_OAUTHTEST"
CLIENT_SECRET = "plane_secret_CLIENTCANARY_5a4b3c2d1e0f"
REDIRECT = "https://db.example.com/plane/callback"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def follow_authorize(url):
    """What a browser does with the authorize URL: Plane answers with a redirect to the app's
    redirect URI carrying code, state and app_installation_id. Returns those parameters."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as e:
        if e.code != 302:
            raise AssertionError(f"authorize answered {e.code}: {e.read()!r}")
        location = e.headers["Location"]
        assert location.startswith(REDIRECT), location
        return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlparse(location).query).items()}
    raise AssertionError("authorize did not redirect")


class OAuthCase(MirrorTestCase):
    CLUSTER_CONF = ["plane.rate_limit_per_minute = 0", "plane.poll_interval = '1h'",
                    "plane.max_attempts = 2"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        scalar(cls.conn, "SELECT vault.create_secret(%s, 'plane_oauth_client_id')", (CLIENT_ID,))
        scalar(cls.conn, "SELECT vault.create_secret(%s, 'plane_oauth_client_secret')", (CLIENT_SECRET,))

    def register_app(self, slug, expires_in=3600):
        return self.sim.control("POST", "oauth/apps", {
            "workspace": slug, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "redirect_uri": REDIRECT, "expires_in": expires_in})

    def add_oauth_workspace(self, slug, items=30, expires_in=3600):
        """A workspace with no API key in Vault: only OAuth can give the workers access."""
        self.add_workspace(slug, projects=1, items=items, store_key=False)
        first = self.wait_for_run_end(slug)
        self.assertEqual(first["action"], "sync_failed")   # nothing to authenticate with yet
        self.assertIn(f"plane_api_key:{slug}", first["details"]["error"])
        return self.register_app(slug, expires_in)

    def authorize(self, slug, app_install=True):
        url = scalar(self.conn, "SELECT work_plane.oauth_authorize_url(%s, %s)", (slug, REDIRECT))
        params = follow_authorize(url)
        result = scalar(self.conn, "SELECT work_plane.oauth_callback(%s, %s, %s)",
                        (params["code"], params["state"],
                         params["app_installation_id"] if app_install else None))
        return result, params

    def oauth_log(self, grant=None):
        log = self.sim.control("GET", "oauth")["log"]
        return [e for e in log if grant is None or e["grant_type"] == grant]

    def secret(self, name):
        return scalar(self.conn, "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = %s", (name,))

    def expire_in_db(self, slug, seconds):
        scalar(self.conn, "UPDATE work_plane.tokens_ref SET expires_at = now() + make_interval(secs => %s), "
                          "updated_at = now() - interval '1 hour' "
                          "WHERE workspace_slug = %s AND kind IN ('access_token', 'bot_token')", (seconds, slug))


class OAuthFlowTest(OAuthCase):

    def test_app_install_stores_tokens_in_vault_and_syncs_with_the_bot_token(self):
        app = self.add_oauth_workspace("oa-app")
        result, params = self.authorize("oa-app")
        self.assertEqual(result["workspace_slug"], "oa-app")
        self.assertEqual(result["auth_mode"], "bot")
        self.assertEqual(result["app_installation_id"], app["app_installation_id"])
        user_id = result["user_id"]
        # tokens_ref has names and expiry only; the tokens are in Vault under those names.
        refs = {r["kind"]: r for r in query(self.conn, "SELECT * FROM work_plane.tokens_ref WHERE workspace_slug = 'oa-app'")}
        self.assertEqual(set(refs), {"access_token", "refresh_token", "bot_token"})
        self.assertEqual(refs["access_token"]["vault_secret_name"], f"plane_token:oa-app:{user_id}")
        self.assertEqual(refs["refresh_token"]["vault_secret_name"], f"plane_refresh:oa-app:{user_id}")
        self.assertEqual(refs["bot_token"]["vault_secret_name"], "plane_token:oa-app:bot")
        self.assertIsNotNone(refs["bot_token"]["expires_at"])
        self.assertTrue(self.secret("plane_token:oa-app:bot").startswith("pln_bot_"))
        self.assertTrue(self.secret(f"plane_refresh:oa-app:{user_id}").startswith("pln_refresh_"))
        # The state is in the table only as a digest, and is spent.
        row = query(self.conn, "SELECT * FROM work_plane.oauth_states WHERE workspace_slug = 'oa-app'")[0]
        self.assertNotEqual(row["state_sha256"], params["state"])
        self.assertIsNotNone(row["used_at"])
        # The workers now sync with the bot token.
        run = self.sync("oa-app")
        self.assertEqual(run["action"], "sync", run["details"])
        self.assert_mirror_matches("oa-app")
        status = self.status("oa-app")
        self.assertEqual((status["auth_mode"], status["auth_status"]), ("bot", "ok"))
        self.assertIsNotNone(status["token_expires_at"])
        grants = [e["grant_type"] for e in self.oauth_log() if e["client_id"] == CLIENT_ID and e["status"] == 200]
        self.assertIn("authorization_code", grants)
        self.assertIn("client_credentials", grants)

    def test_an_app_install_redirect_without_state_completes_the_pending_authorisation(self):
        # Plane's redirect after installing an app may carry only code and app_installation_id.
        app = self.add_oauth_workspace("oa-nostate")
        self.sim.control("POST", "oauth/config", {"omit_state": True})
        try:
            # Without a pending authorisation started here, nothing is accepted.
            with self.assertRaises(psycopg2.Error) as e:
                scalar(self.conn, "SELECT work_plane.oauth_callback('code', NULL, %s)", (app["app_installation_id"],))
            self.assertIn("no pending authorisation", str(e.exception))
            url = scalar(self.conn, "SELECT work_plane.oauth_authorize_url('oa-nostate', %s)", (REDIRECT,))
            params = follow_authorize(url)
            self.assertNotIn("state", params)
            result = scalar(self.conn, "SELECT work_plane.oauth_callback(%s, NULL, %s)",
                            (params["code"], params["app_installation_id"]))
        finally:
            self.sim.control("POST", "oauth/config", {})
        self.assertEqual((result["workspace_slug"], result["auth_mode"]), ("oa-nostate", "bot"))
        self.assertIsNotNone(scalar(self.conn, "SELECT used_at FROM work_plane.oauth_states "
                                               "WHERE workspace_slug = 'oa-nostate'"))
        # A code without state and without an installation is refused outright.
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.oauth_callback('code', NULL, NULL)")
        self.assertIn("state is required", str(e.exception))
        self.assertEqual(self.sync("oa-nostate")["action"], "sync")

    def test_state_is_single_use_expiring_and_bound_to_the_workspace(self):
        self.add_oauth_workspace("oa-state")
        url = scalar(self.conn, "SELECT work_plane.oauth_authorize_url('oa-state', %s)", (REDIRECT,))
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))
        self.assertEqual((q["client_id"], q["redirect_uri"], q["response_type"]), (CLIENT_ID, REDIRECT, "code"))
        self.assertEqual(len(q["state"]), 64)
        self.assertIn("projects.work_items:read", q["scope"])
        params = follow_authorize(url)
        scalar(self.conn, "SELECT work_plane.oauth_callback(%s, %s)", (params["code"], params["state"]))
        self.assertEqual(self.status("oa-state")["auth_mode"], "oauth")
        # Reused.
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.oauth_callback(%s, %s)", (params["code"], params["state"]))
        self.conn.rollback()
        self.assertIn("already used", str(e.exception))
        # Never issued.
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.oauth_callback('somecode', %s)", ("ab" * 32,))
        self.conn.rollback()
        self.assertIn("unknown OAuth state", str(e.exception))
        # Expired: no token request is made for it.
        params = follow_authorize(scalar(self.conn, "SELECT work_plane.oauth_authorize_url('oa-state', %s)", (REDIRECT,)))
        scalar(self.conn, "UPDATE work_plane.oauth_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        before = len(self.oauth_log("authorization_code"))
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.oauth_callback(%s, %s)", (params["code"], params["state"]))
        self.conn.rollback()
        self.assertIn("expired", str(e.exception))
        self.assertEqual(len(self.oauth_log("authorization_code")), before)
        # Bad input is refused before anything is stored.
        for sql, args, words in [
                ("SELECT work_plane.oauth_authorize_url('oa-state', %s)", ("javascript:alert(1)",), "redirect_uri"),
                ("SELECT work_plane.oauth_authorize_url('no-such-ws', %s)", (REDIRECT,), "unknown Plane workspace"),
                ("SELECT work_plane.oauth_authorize_url('oa-state', %s, %s)", (REDIRECT, "a'; DROP TABLE x; --"), "scopes"),
                ("SELECT work_plane.oauth_callback('c', 's', %s)", ("../../etc",), "app_installation_id")]:
            with self.assertRaises(psycopg2.Error) as e:
                scalar(self.conn, sql, args)
            self.conn.rollback()
            self.assertIn(words, str(e.exception))

    def test_an_app_installed_in_another_workspace_is_refused(self):
        self.add_oauth_workspace("oa-mine")
        self.add_workspace("oa-theirs", projects=1, items=3)
        self.register_app("oa-theirs")   # the app the user installs lives in the other workspace
        url = scalar(self.conn, "SELECT work_plane.oauth_authorize_url('oa-mine', %s)", (REDIRECT,))
        params = follow_authorize(url)
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.oauth_callback(%s, %s, %s)",
                   (params["code"], params["state"], params["app_installation_id"]))
        self.conn.rollback()
        self.assertIn('installed in Plane workspace "oa-theirs"', str(e.exception))
        self.assertEqual(scalar(self.conn, "SELECT count(*) FROM work_plane.tokens_ref WHERE workspace_slug = 'oa-mine'"), 0)
        self.assertEqual(self.status("oa-mine")["auth_mode"], "api_key")

    def test_privileges(self):
        self.add_oauth_workspace("oa-priv")
        cur = self.conn.cursor()
        cur.execute("DROP ROLE IF EXISTS oa_reader; CREATE ROLE oa_reader IN ROLE plane_connector_reader; "
                    "DROP ROLE IF EXISTS oa_admin; CREATE ROLE oa_admin IN ROLE plane_connector_admin")
        self.conn.commit()
        for role, sql in [("oa_reader", "SELECT work_plane.oauth_authorize_url('oa-priv', 'https://x.example/cb')"),
                          ("oa_reader", "SELECT work_plane.oauth_callback('c', 's')"),
                          ("oa_reader", "SELECT * FROM work_plane.tokens_ref"),
                          ("oa_admin", "SELECT * FROM work_plane.oauth_states"),
                          ("oa_admin", "SELECT * FROM vault.decrypted_secrets"),
                          ("oa_admin", "SELECT * FROM vault.secrets")]:
            cur.execute(f"SET ROLE {role}")
            with self.assertRaises(psycopg2.errors.InsufficientPrivilege, msg=f"{role}: {sql}"):
                cur.execute(sql)
            self.conn.rollback()
        # An admin may start the flow (SECURITY DEFINER), and sees names, never tokens.
        cur.execute("SET ROLE oa_admin")
        cur.execute("SELECT work_plane.oauth_authorize_url('oa-priv', %s)", (REDIRECT,))
        self.assertTrue(cur.fetchone()[0].startswith(self.sim.url + "/auth/o/authorize-app/?"))
        cur.execute("RESET ROLE")
        self.conn.commit()


class OAuthRenewalTest(OAuthCase):
    # A slow Plane (40 ms per API request) so that a backfill lasts long enough to act during it.
    CLUSTER_CONF = OAuthCase.CLUSTER_CONF + ["plane.oauth_refresh_margin = 60"]

    def tearDown(self):
        self.sim.faults()
        self.sim.control("POST", "oauth/faults", {})

    def test_access_token_rejected_mid_backfill_is_refreshed_and_the_sync_goes_on(self):
        self.add_oauth_workspace("oa-mid", items=400)
        result, _ = self.authorize("oa-mid", app_install=False)
        user = result["user_id"]
        refresh_before = self.secret(f"plane_refresh:oa-mid:{user}")
        self.sim.faults(delay_ms=40, path_regex="/api/v1/workspaces/")
        before = self.last_event_id()
        scalar(self.conn, "SELECT work_plane.sync_now('oa-mid', true)")
        wait_until(lambda: (self.status("oa-mid")["pages_done"] or 0) >= 2, message="backfill under way")
        # Plane stops accepting the access token (it expires early, as far as we can tell).
        self.assertGreater(self.sim.control("POST", "oauth/expire", {"client_id": CLIENT_ID, "kind": "access"})["expired"], 0)
        run = self.wait_for_run_end("oa-mid", before, timeout=120)
        self.assertEqual(run["action"], "sync", run["details"])
        self.sim.faults()
        self.assert_mirror_matches("oa-mid")
        refreshes = [e for e in self.oauth_log("refresh_token") if e["status"] == 200]
        self.assertGreaterEqual(len(refreshes), 1)
        # The refresh token rotated: the new one is stored, the old one is spent at Plane.
        self.assertNotEqual(self.secret(f"plane_refresh:oa-mid:{user}"), refresh_before)
        self.assertGreaterEqual(scalar(self.conn, "SELECT count(*) FROM ops.run_events WHERE workspace_slug = 'oa-mid' "
                                                  "AND action = 'oauth_refresh' AND plane_response_status = 200"), 1)

    def test_tokens_close_to_expiry_are_renewed_by_the_workers_unasked(self):
        self.add_oauth_workspace("oa-soon")
        result, _ = self.authorize("oa-soon", app_install=False)
        self.assertEqual(self.sync("oa-soon")["action"], "sync")  # the first run (no key yet) had failed
        access_before = self.secret(f"plane_token:oa-soon:{result['user_id']}")
        n = len(self.oauth_log("refresh_token"))
        # Within the margin: the launcher starts a run, which renews first. No sync_now.
        self.expire_in_db("oa-soon", 30)
        wait_until(lambda: self.secret(f"plane_token:oa-soon:{result['user_id']}") != access_before,
                   timeout=30, message="the access token to be renewed")
        self.assertGreater(len(self.oauth_log("refresh_token")), n)
        expires = scalar(self.conn, "SELECT extract(epoch FROM expires_at - now()) FROM work_plane.tokens_ref "
                                    "WHERE workspace_slug = 'oa-soon' AND kind = 'access_token'")
        self.assertGreater(expires, 3000)

    def test_lapsed_bot_token_is_requested_again(self):
        self.add_oauth_workspace("oa-bot")
        self.authorize("oa-bot")
        bot_before = self.secret("plane_token:oa-bot:bot")
        self.sim.control("POST", "oauth/expire", {"client_id": CLIENT_ID, "kind": "bot"})
        run = self.sync("oa-bot")
        self.assertEqual(run["action"], "sync", run["details"])
        self.assertNotEqual(self.secret("plane_token:oa-bot:bot"), bot_before)
        self.assert_mirror_matches("oa-bot")

    def test_refused_refresh_requires_reauthorisation(self):
        self.add_oauth_workspace("oa-refused")
        self.authorize("oa-refused", app_install=False)
        self.sim.control("POST", "oauth/faults", {"fail_next_refresh": 1, "refresh_status": 400})
        self.expire_in_db("oa-refused", -5)
        run = self.sync("oa-refused")
        self.assertEqual(run["action"], "sync_failed")
        self.assertIn("re-authorisation", run["details"]["error"])
        self.assertIn("oauth_authorize_url", run["details"]["error"])
        status = self.status("oa-refused")
        self.assertEqual(status["auth_status"], "reauthorization_required")
        self.assertIn("invalid_grant", status["auth_error"])
        # No more requests until someone completes the flow again; sync_now says what to do.
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.sync_now('oa-refused')")
        self.conn.rollback()
        self.assertIn("re-authorisation", str(e.exception))
        self.authorize("oa-refused", app_install=False)
        self.assertEqual(self.status("oa-refused")["auth_status"], "ok")
        run = self.sync("oa-refused")
        self.assertEqual(run["action"], "sync", run["details"])

    def test_a_failing_token_endpoint_is_not_retried_in_a_loop(self):
        self.add_oauth_workspace("oa-5xx")
        self.authorize("oa-5xx", app_install=False)
        self.assertEqual(self.sync("oa-5xx")["action"], "sync")
        # The token lapses and Plane's token endpoint answers 500 to every refresh.
        self.sim.control("POST", "oauth/faults", {"fail_next_refresh": 1000, "refresh_status": 500})
        self.expire_in_db("oa-5xx", -5)
        run = self.sync("oa-5xx")
        self.assertEqual(run["action"], "sync_failed")
        self.assertEqual(self.status("oa-5xx")["auth_status"], "ok")   # passing trouble, not refused
        tries = len(self.oauth_log("refresh_token"))
        # The launcher (naptime 1 s) does not start run after failing run: watch it for 5 seconds.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            self.assertEqual(len(self.oauth_log("refresh_token")), tries)
            time.sleep(0.5)

    def test_mcp_of_an_oauth_installation_uses_an_api_key_never_the_token(self):
        # Plane's API-key MCP endpoint checks the bearer as an API key, and its OAuth endpoint
        # issues tokens of its own: an OAuth installation needs an API key in Vault for MCP.
        self.add_oauth_workspace("oa-mcp")
        self.authorize("oa-mcp")
        scalar(self.conn, "UPDATE work_plane.installations SET mcp_url = %s WHERE workspace_slug = 'oa-mcp'",
               (self.sim.url + "/http/api-key/mcp",))
        self.sim.control("POST", "mcp/reset", {})
        with self.assertRaises(psycopg2.Error) as e:
            scalar(self.conn, "SELECT work_plane.mcp_tools('oa-mcp')")
        self.assertIn("takes an API key, not an OAuth or bot token", str(e.exception))
        self.assertIn("plane_api_key:oa-mcp", str(e.exception))
        self.assertEqual(self.sim.control("GET", "mcp")["log"], [])  # nothing was sent
        key = "plane_api_oa-mcp_0123456789abcdef0123456789"  # the key add_workspace seeded
        scalar(self.conn, "SELECT vault.create_secret(%s, 'plane_api_key:oa-mcp')", (key,))
        tools = scalar(self.conn, "SELECT work_plane.mcp_tools('oa-mcp')")
        self.assertTrue(any(t["name"] for t in tools))
        self.assertEqual(self.status("oa-mcp")["auth_mode"], "bot")  # the sync still uses the token
        # Every session was ended (DELETE with its Mcp-Session-Id): none piles up on the server.
        self.assertEqual(self.sim.control("GET", "mcp")["live_sessions"], 0)


if __name__ == "__main__":
    unittest.main()
