#!/usr/bin/env python3
"""Local Plane.so REST API simulator (standard library only).

Serves a subset of Plane's public REST API v1 (``/api/v1/...``) from in-memory, deterministically
seeded data, plus a control API under ``/_sim/`` for tests: seeding, mutations that return the
webhook deliveries Plane would send (v1 and v2, signed), rate-limit configuration, fault injection
and request statistics.  See README.md next to this file.
"""

import argparse
import base64
import collections
import hashlib
import hmac
import http.client
import json
import math
import os
import random
import re
import secrets
import select
import signal
import socket
import sys
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

UTC = timezone.utc

# --------------------------------------------------------------------------- time helpers

_TZ_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_TZ_CACHE = {}


def parse_tz(text):
    """'+05:30' / '-0800' / 'Z' / 'UTC' / an IANA name -> tzinfo."""
    if text in _TZ_CACHE:
        return _TZ_CACHE[text]
    if text in (None, "", "Z", "z", "UTC", "utc"):
        tz = UTC
    else:
        m = _TZ_RE.match(text)
        if m:
            off = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
            if m.group(1) == "-":
                off = -off
            tz = UTC if not off else timezone(off)
        else:
            import zoneinfo  # noqa: PLC0415 - only when a zone name is used
            tz = zoneinfo.ZoneInfo(text)
    _TZ_CACHE[text] = tz
    return tz


def fmt_dt(dt, tz):
    """DRF rendering: isoformat in the user's zone, '+00:00' shown as 'Z'."""
    s = dt.astimezone(tz).isoformat()
    if s.endswith("+00:00"):
        s = s[:-6] + "Z"
    return s


def parse_dt(value):
    if value is None or isinstance(value, datetime):
        return value
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_date(value):
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def utcnow():
    return datetime.now(UTC)


# --------------------------------------------------------------------------- object schemas

TYPES = ("project", "work_item", "cycle", "module", "state", "label", "page")

DT_FIELDS = {
    "project": {"created_at", "updated_at", "deleted_at", "archived_at"},
    "work_item": {"created_at", "updated_at", "deleted_at", "completed_at"},
    "cycle": {"created_at", "updated_at", "deleted_at", "start_date", "end_date", "archived_at"},
    "module": {"created_at", "updated_at", "deleted_at", "archived_at"},
    "state": {"created_at", "updated_at", "deleted_at"},
    "label": {"created_at", "updated_at", "deleted_at"},
    "page": {"created_at", "updated_at", "deleted_at"},
}
DATE_FIELDS = {
    "project": set(),
    "work_item": {"start_date", "target_date", "archived_at"},
    "cycle": set(),
    "module": {"start_date", "target_date"},
    "state": set(),
    "label": set(),
    "page": {"archived_at"},
}
# v1 webhook event names and v2 entity names
V1_EVENT = {"project": "project", "work_item": "issue", "cycle": "cycle", "module": "module"}
V2_ENTITY = {"project": "project", "work_item": "workitem", "cycle": "cycle", "module": "module"}

PRIORITIES = ("urgent", "high", "medium", "low", "none")
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
WORK_ITEM_PATCHABLE = ("name", "state", "priority", "assignees", "labels", "start_date",
                       "target_date", "description_html", "parent", "estimate_point", "point",
                       "sort_order", "external_id", "external_source")

FIRST_NAMES = ["Asha", "Ben", "Chen", "Dara", "Eli", "Femi", "Gita", "Hugo", "Ines", "Jon",
               "Kofi", "Lena", "Mira", "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
LAST_NAMES = ["Iyer", "Okafor", "Novak", "Silva", "Kim", "Müller", "Haddad", "Larsen", "Rao",
              "Brown", "Moreau", "Sato"]
VERBS = ["Fix", "Add", "Refactor", "Remove", "Document", "Investigate", "Speed up", "Migrate",
         "Test", "Polish", "Rewrite", "Audit"]
NOUNS = ["login flow", "billing export", "search index", "webhook retries", "dark mode",
         "CSV import", "rate limiter", "onboarding email", "API pagination", "café menu sync",
         "audit log", "mobile layout", "SSO settings", "naïve date parsing", "cache warmup",
         "report builder", "label picker", "cycle burndown"]
PROJECT_NAMES = [("Web App", "WEB"), ("Platform API", "API"), ("Operations", "OPS"),
                 ("Mobile", "MOB"), ("Design System", "DS"), ("Data", "DATA"),
                 ("Billing", "BILL"), ("Growth", "GRO"), ("Security", "SEC"), ("Docs", "DOC")]
STATE_DEFS = [("Backlog", "backlog", "#A3A3A3"), ("Todo", "unstarted", "#3A3A3A"),
              ("In Progress", "started", "#F59E0B"), ("Done", "completed", "#16A34A"),
              ("Cancelled", "cancelled", "#EF4444"), ("Triage", "triage", "#4E5355")]
LABEL_DEFS = [("bug", "#EF4444"), ("feature", "#3B82F6"), ("chore", "#A3A3A3"),
              ("performance", "#F59E0B"), ("security", "#7C3AED"), ("docs", "#10B981"),
              ("ux", "#EC4899"), ("infra", "#64748B")]
MODULE_STATUSES = ("backlog", "planned", "in-progress", "paused", "completed", "cancelled")

# Per-workspace behaviour switches (POST /_sim/config {"workspace": slug, ...}); the defaults are
# the simulator's historical behaviour.  See README "Real-workspace behaviours".
WS_DEFAULTS = {"work_items_route": True, "refuse": {}, "tie_shuffle": False, "page_size_cap": 1000,
               "page_size_mode": "reject", "v2_shape": "rest", "trim_writes": False,
               "deleted_project_status": 403, "page_list_content": True}
WS_PROFILES = {
    "real": {"tie_shuffle": True, "v2_shape": "cloud", "trim_writes": True, "refuse": {"pages": 403},
             "page_size_cap": 100, "page_size_mode": "reject", "page_list_content": False},
    "default": WS_DEFAULTS,
}
REFUSE_KEYS = ("pages", "archived-cycles", "archived-modules", "cycle-issues", "module-issues")
# v2 (Cloud) webhook `data` key names (v2_shape "cloud")
V2_CLOUD_RENAMES = {
    "work_item": {"state": "state_id", "labels": "label_ids", "assignees": "assignee_ids",
                  "parent": "parent_id", "project": "project_id", "workspace": "workspace_id",
                  "estimate_point": "estimate_point_id", "type": "type_id"},
    "cycle": {"project": "project_id", "workspace": "workspace_id", "owned_by": "owned_by_id"},
    "module": {"project": "project_id", "workspace": "workspace_id", "lead": "lead_id",
               "members": "member_ids"},
    "page": {"project": "project_id", "workspace": "workspace_id", "owned_by": "owned_by_id"},
    "project": {"workspace": "workspace_id"},
}


def query_text(query):
    """The parsed query of a request as "k=v&k=v" (first values), for the request log."""
    if not query:
        return ""
    if isinstance(query, str):
        return query
    return "&".join(f"{k}={v[0] if isinstance(v, list) and v else v}" for k, v in query.items())


class ApiError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found():
    return ApiError(404, {"error": "The required object does not exist."})


def render(rec, tz, fields=None):
    """Internal record -> API dict (datetimes in tz, dates as YYYY-MM-DD); `_`-keys are hidden."""
    out = {}
    for k, v in rec.items():
        if k[0] == "_" or (fields is not None and k not in fields):
            continue
        cls = v.__class__
        if cls is datetime:
            v = fmt_dt(v, tz)
        elif cls is date:
            v = v.isoformat()
        elif cls is list:
            v = list(v)
        out[k] = v
    return out


# --------------------------------------------------------------------------- workspace model

def ws_default_settings():
    out = dict(WS_DEFAULTS)
    out["refuse"] = {}
    return out


def project_view(rec, user):
    """A project as `user` sees it: `is_member`, `member_role` and `sort_order` are per user
    (null role and sort order for a non-member).  The record itself when nothing differs."""
    role = rec["_members"].get(user)
    if role is not None:
        if rec["is_member"] is True and rec["member_role"] == role:
            return rec
        v = dict(rec)
        v["is_member"] = True
        v["member_role"] = role
        return v
    v = dict(rec)
    v["is_member"] = False
    v["member_role"] = None
    v["sort_order"] = None
    return v


class Workspace:
    def __init__(self, slug, rng):
        self.slug = slug
        self.rng = rng
        self.id = self.uid()
        self.name = slug.replace("-", " ").title()
        self.webhook_id = self.uid()
        self.webhook_id_v2 = self.uid()
        self.webhook_secret = "plane_wh_" + uuid.UUID(int=rng.getrandbits(128)).hex
        self.pages_enabled = False
        self.owner = None
        self.members = []            # UserLite + role
        self.users = {}              # id -> UserLite
        self.tz = "Z"
        self.projects = {}           # id -> rec
        self.children = {t: {} for t in ("work_item", "cycle", "module", "state", "label", "page")}
        #   children[type][project_id] -> {id: rec}; workspace pages under project_id None
        self.index = {}              # id -> (type, rec)
        self.by_seq = {}             # (project_id, sequence_id) -> rec
        self.seq = {}                # project_id -> last sequence_id
        self.deleted_ids = []
        self.cache = {}              # sort cache
        self.last_ts = None
        self.outbox = collections.deque(maxlen=10000)
        self.settings = ws_default_settings()
        self.non_member_pids = []    # seeded projects the owner is not a member of
        self.cycle_issues = {}       # cycle id -> [work item ids]
        self.module_issues = {}      # module id -> [work item ids]

    def uid(self):
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def now(self):
        """Strictly increasing 'now' so every change gets a distinct timestamp."""
        now = utcnow()
        if self.last_ts is not None and now <= self.last_ts:
            now = self.last_ts + timedelta(microseconds=1)
        self.last_ts = now
        return now

    def coll(self, typ, pid):
        if typ == "project":
            return self.projects
        return self.children[typ].setdefault(pid, {})

    def add(self, typ, rec, pid=None):
        self.coll(typ, pid)[rec["id"]] = rec
        self.index[rec["id"]] = (typ, rec)
        if typ == "work_item":
            self.by_seq[(rec["project"], rec["sequence_id"])] = rec

    def user_lite(self, uid):
        return dict(self.users[uid]) if uid in self.users else None

    def invalidate(self):
        self.cache.clear()

    def triage_states(self, pid):
        return {s["id"] for s in self.children["state"].get(pid, {}).values() if s["group"] == "triage"}


# --------------------------------------------------------------------------- record factories

def make_user(ws, first, last, role):
    uid = ws.uid()
    display = (first + last[0]).lower()
    lite = {"id": uid, "first_name": first, "last_name": last,
            "email": f"{first.lower()}.{last.lower()}@{ws.slug}.example",
            "avatar": "", "avatar_url": None, "display_name": display}
    ws.users[uid] = lite
    ws.members.append(dict(lite, role=role))
    return lite


def make_project(ws, name, identifier, created, sort_order, lead):
    return {
        "id": ws.uid(), "total_members": len(ws.members), "total_cycles": 0, "total_modules": 0,
        "is_member": True, "sort_order": sort_order, "member_role": 20, "is_deployed": False,
        "cover_image_url": None, "created_at": created, "updated_at": created, "deleted_at": None,
        "name": name, "description": f"{name} project", "description_text": None,
        "description_html": f"<p>{name} project</p>", "network": 2, "identifier": identifier,
        "emoji": None, "icon_prop": None, "module_view": True, "cycle_view": True,
        "issue_views_view": True, "page_view": True, "intake_view": False,
        "is_time_tracking_enabled": False, "is_issue_type_enabled": False,
        "guest_view_all_features": False, "cover_image": None, "archive_in": 0, "close_in": 0,
        "logo_props": {}, "archived_at": None, "timezone": "UTC", "external_source": None,
        "external_id": None, "created_by": lead, "updated_by": lead, "workspace": ws.id,
        "default_assignee": None, "project_lead": lead, "cover_image_asset": None,
        "estimate": None, "default_state": None,
    }


def make_state(ws, pid, name, group, color, seq, created, actor):
    return {
        "id": ws.uid(), "created_at": created, "updated_at": created, "deleted_at": None,
        "name": name, "description": "", "color": color, "slug": name.lower().replace(" ", "-"),
        "sequence": float(seq), "group": group, "is_triage": group == "triage",
        "default": group == "backlog", "external_source": None, "external_id": None,
        "created_by": actor, "updated_by": actor, "project": pid, "workspace": ws.id,
    }


def make_label(ws, pid, name, color, seq, created, actor):
    return {
        "id": ws.uid(), "created_at": created, "updated_at": created, "deleted_at": None,
        "name": name, "description": "", "color": color, "sort_order": float(seq),
        "external_source": None, "external_id": None, "created_by": actor, "updated_by": actor,
        "workspace": ws.id, "project": pid, "parent": None,
    }


def make_cycle(ws, pid, name, start, end, created, actor, seq):
    return {
        "id": ws.uid(), "total_issues": 0, "cancelled_issues": 0, "completed_issues": 0,
        "started_issues": 0, "unstarted_issues": 0, "backlog_issues": 0, "total_estimates": 0,
        "completed_estimates": 0, "started_estimates": 0, "created_at": created,
        "updated_at": created, "deleted_at": None, "name": name, "description": "",
        "start_date": start, "end_date": end, "view_props": {}, "sort_order": float(seq),
        "external_source": None, "external_id": None, "progress_snapshot": {},
        "archived_at": None, "logo_props": {}, "timezone": "UTC", "version": 1,
        "created_by": actor, "updated_by": actor, "project": pid, "workspace": ws.id,
        "owned_by": actor,
    }


def make_module(ws, pid, name, start, target, status, created, actor, seq, members):
    return {
        "id": ws.uid(), "total_issues": 0, "cancelled_issues": 0, "completed_issues": 0,
        "started_issues": 0, "unstarted_issues": 0, "backlog_issues": 0, "created_at": created,
        "updated_at": created, "deleted_at": None, "name": name, "description": "",
        "description_text": None, "description_html": "<p></p>", "start_date": start,
        "target_date": target, "status": status, "view_props": {}, "sort_order": float(seq),
        "external_source": None, "external_id": None, "archived_at": None, "logo_props": {},
        "created_by": actor, "updated_by": actor, "project": pid, "workspace": ws.id,
        "lead": actor, "members": list(members),
    }


def make_page(ws, pid, name, created, actor, access):
    return {
        "id": ws.uid(), "name": name, "description_html": f"<p>{name}</p>", "owned_by": actor,
        "access": access, "is_locked": False, "archived_at": None, "workspace": ws.id,
        "project": pid, "created_at": created, "updated_at": created, "deleted_at": None,
        "created_by": actor, "updated_by": actor, "logo_props": {}, "parent_id": None,
    }


def make_work_item(ws, pid, seq, name, created, updated, state, priority, actor,
                   assignees=(), labels=(), start=None, target=None, completed=None):
    return {
        "id": ws.uid(), "type_id": None, "created_at": created, "updated_at": updated,
        "deleted_at": None, "point": None, "name": name, "description_html": f"<p>{name}</p>",
        "description_binary": None, "priority": priority, "start_date": start,
        "target_date": target, "sequence_id": seq, "sort_order": 65535.0 * seq,
        "completed_at": completed, "archived_at": None, "is_draft": False,
        "external_source": None, "external_id": None, "created_by": actor, "updated_by": actor,
        "project": pid, "workspace": ws.id, "parent": None, "state": state,
        "estimate_point": None, "type": None, "assignees": list(assignees), "labels": list(labels),
    }


# --------------------------------------------------------------------------- seeding

def _int(p, key, default, lo=0):
    v = p.get(key, default)
    try:
        v = int(v)
    except (TypeError, ValueError):
        raise ApiError(400, {"error": f"{key} must be an integer"})
    if v < lo:
        raise ApiError(400, {"error": f"{key} must be >= {lo}"})
    return v


def seed_workspace(p):
    """Build a Workspace from a seed spec (see README).  Deterministic for (workspace, seed)."""
    slug = str(p.get("workspace") or "acme")
    if not re.match(r"^[A-Za-z0-9_-]+$", slug):
        raise ApiError(400, {"error": "workspace slug must match [A-Za-z0-9_-]+"})
    seed = p.get("seed", 1)
    n_projects = _int(p, "projects", 3)
    n_items = _int(p, "items_per_project", 250)
    n_cycles = _int(p, "cycles_per_project", 2)
    n_modules = _int(p, "modules_per_project", 2)
    n_labels = min(_int(p, "labels_per_project", 5), len(LABEL_DEFS))
    n_members = max(_int(p, "members", 4), 0)
    n_pages = _int(p, "pages_per_project", 2)
    n_archived = _int(p, "archived_items_per_project", 0)
    n_drafts = _int(p, "draft_items_per_project", 0)
    history_days = max(_int(p, "history_days", 90, 1), 1)
    n_nonmember = _int(p, "non_member_projects", 0)
    tied = bool(p.get("tied_timestamps", False))
    tied_projects = bool(p.get("tied_project_created_at", False))
    project_tzs = p.get("project_timezones") or []
    if not isinstance(project_tzs, list) or not all(isinstance(z, str) and z for z in project_tzs):
        raise ApiError(400, {"error": "project_timezones must be a list of zone names"})
    for z in project_tzs:
        try:
            parse_tz(z)
        except Exception:
            raise ApiError(400, {"error": f"unknown time zone {z!r} in project_timezones"})
    try:
        member_fraction = float(p.get("project_member_fraction", 1.0))
    except (TypeError, ValueError):
        raise ApiError(400, {"error": "project_member_fraction must be a number"})
    if not 0.0 <= member_fraction <= 1.0:
        raise ApiError(400, {"error": "project_member_fraction must be between 0 and 1"})
    tzstr = str(p.get("tz") or "Z")
    try:
        parse_tz(tzstr)
    except Exception:
        raise ApiError(400, {"error": f"unknown tz {tzstr!r}"})
    now = parse_dt(p["now"]) if p.get("now") else utcnow()

    # A string seed combining slug and seed: different slugs never share ids.
    rng = random.Random(f"{slug}/{seed}")
    ws = Workspace(slug, rng)
    ws.tz = tzstr
    ws.pages_enabled = bool(p.get("pages_enabled", False))
    if p.get("webhook_secret"):
        ws.webhook_secret = str(p["webhook_secret"])
    ws.api_key = str(p.get("api_key") or ("plane_api_" + uuid.UUID(int=rng.getrandbits(128)).hex))

    ws.owner = make_user(ws, FIRST_NAMES[0], LAST_NAMES[0], 20)["id"]
    for i in range(n_members):
        make_user(ws, FIRST_NAMES[(i + 1) % len(FIRST_NAMES)], LAST_NAMES[(i + 1) % len(LAST_NAMES)],
                  15 if i % 3 else 20)
    member_ids = [m["id"] for m in ws.members]
    owner = ws.owner
    # Project membership has an RNG of its own, so the rest of the data does not depend on it.
    mrng = random.Random(f"{slug}/{seed}/members")
    ws_roles = {m["id"]: m["role"] for m in ws.members}
    others = [m["id"] for m in ws.members if m["id"] != owner]

    span_us = history_days * 86400 * 10**6
    start = now - timedelta(microseconds=span_us)
    proj_base = start - timedelta(days=30)
    pids = []
    for i in range(n_projects + n_nonmember):
        name, ident = PROJECT_NAMES[i % len(PROJECT_NAMES)]
        if i >= len(PROJECT_NAMES):
            name, ident = f"{name} {i // len(PROJECT_NAMES) + 1}", f"{ident}{i // len(PROJECT_NAMES) + 1}"
        created = proj_base + timedelta(hours=i, microseconds=rng.randrange(10**6))
        if tied_projects:
            created = proj_base
        # Members: the owner (not for the extra non-member projects), and each other workspace
        # member with probability project_member_fraction.
        chosen = [u for u in others if member_fraction >= 1.0 or mrng.random() < member_fraction]
        if i < n_projects:
            lead = owner
            members = {owner: ws_roles[owner]}
        else:
            if not chosen and others:
                chosen = [mrng.choice(others)]
            lead = chosen[0] if chosen else None
            members = {}
        members.update((u, 20 if u == lead else ws_roles[u]) for u in chosen)
        proj = make_project(ws, name, ident, created, 65535.0 if tied else 15535.0 + 10000.0 * i,
                            lead if lead is not None else owner)
        proj["project_lead"] = lead
        proj["_members"] = {u: members[u] for u in ws_roles if u in members}   # workspace order
        proj["total_members"] = len(proj["_members"])
        if project_tzs:
            proj["timezone"] = project_tzs[i % len(project_tzs)]
        pid = proj["id"]
        ws.add("project", proj)
        pids.append(pid)
        if i >= n_projects:
            ws.non_member_pids.append(pid)
        ws.seq[pid] = 0
        t = created
        tied_t = created + timedelta(minutes=1)    # tied_timestamps: one created_at per project
        for j, (sname, group, color) in enumerate(STATE_DEFS):
            t += timedelta(seconds=1)
            st = make_state(ws, pid, sname, group, color, 15000 + 10000 * j, t, owner)
            ws.add("state", st, pid)
            if group == "backlog":
                proj["default_state"] = st["id"]
        for j in range(n_labels):
            t += timedelta(seconds=1)
            lname, color = LABEL_DEFS[j]
            ws.add("label", make_label(ws, pid, lname, color, 65535 * (j + 1), tied_t if tied else t,
                                       owner), pid)
        for j in range(n_cycles):
            t += timedelta(seconds=1)
            if project_tzs:
                # Plane stores a cycle's dates in the project's zone: start 00:00:01 local on the
                # first day, end 23:59:00 local on the last day (utils/timezone_converter.py).
                zone = parse_tz(proj["timezone"])
                sd = (now - timedelta(days=7)).astimezone(zone).date() - timedelta(days=14 * j)
                ed = (now + timedelta(days=7)).astimezone(zone).date() if j == 0 else sd + timedelta(days=13)
                cs = datetime.combine(sd, dtime(0, 0, 1), zone).astimezone(UTC)
                ce = datetime.combine(ed, dtime(23, 59), zone).astimezone(UTC)
            elif j == 0:    # the current cycle
                cs, ce = now - timedelta(days=7), now + timedelta(days=7)
            else:           # earlier, completed cycles
                cs, ce = now - timedelta(days=7 + 14 * j), now - timedelta(days=7 + 14 * (j - 1), seconds=1)
            cyc = make_cycle(ws, pid, f"Sprint {n_cycles - j}", cs, ce, tied_t if tied else t, owner,
                             65535 * (j + 1))
            cyc["timezone"] = proj["timezone"]
            ws.add("cycle", cyc, pid)
        for j in range(n_modules):
            t += timedelta(seconds=1)
            ms = (now - timedelta(days=30 * (j + 1))).date()
            ws.add("module", make_module(ws, pid, f"Module {chr(65 + j % 26)}{j // 26 or ''}", ms,
                                         ms + timedelta(days=45), MODULE_STATUSES[j % 4],
                                         tied_t if tied else t, owner, 65535 * (j + 1),
                                         rng.sample(member_ids, min(2, len(member_ids)))),
                   pid)
        for j in range(n_pages):
            t += timedelta(seconds=1)
            ws.add("page", make_page(ws, pid, f"{name} notes {j + 1}", t, owner, j % 2), pid)
        proj["total_cycles"] = n_cycles
        proj["total_modules"] = n_modules
    for j in range(n_pages):
        ws.add("page", make_page(ws, None, f"Wiki page {j + 1}", proj_base + timedelta(minutes=j),
                                 owner, 0), None)

    # Work items: distinct created_at over the history window, assigned round-robin to the
    # projects so sequence_id order == created_at order within a project; distinct updated_at.
    total = n_items * len(pids)
    if total:
        offsets = sorted(rng.sample(range(span_us - 10**6), total))
        state_lists = {}
        for pid in pids:
            by_group = {s["group"]: s["id"] for s in ws.children["state"][pid].values()}
            state_lists[pid] = by_group
        groups = ["backlog"] * 4 + ["unstarted"] * 5 + ["started"] * 5 + ["completed"] * 4 + ["cancelled"] * 2
        label_ids = {pid: list(ws.children["label"].get(pid, {})) for pid in pids}
        used_upd = set()
        now_us = span_us
        per_project_items = {pid: [] for pid in pids}
        rand = rng.random
        randrange = rng.randrange
        for k, c_us in enumerate(offsets):
            pid = pids[k % len(pids)]
            ws.seq[pid] += 1
            seq = ws.seq[pid]
            u_us = c_us + int(rand() * (now_us - c_us))
            while u_us in used_upd:
                u_us += 1
            used_upd.add(u_us)
            created = start + timedelta(microseconds=c_us)
            updated = start + timedelta(microseconds=u_us)
            group = groups[randrange(len(groups))]
            name = f"{VERBS[randrange(len(VERBS))]} {NOUNS[randrange(len(NOUNS))]}"
            r = rand()
            assignees = [] if r < 0.2 else rng.sample(member_ids, 1 if r < 0.8 else min(2, len(member_ids)))
            labs = label_ids[pid]
            r = rand()
            labels = [] if (r < 0.3 or not labs) else rng.sample(labs, 1 if r < 0.85 else min(2, len(labs)))
            sd = td = None
            if rand() < 0.5:
                sd = created.date()
                td = sd + timedelta(days=1 + randrange(30))
            actor = member_ids[randrange(len(member_ids))]
            rec = make_work_item(ws, pid, seq, name, created, updated, state_lists[pid][group],
                                 PRIORITIES[randrange(5)], actor, assignees, labels, sd, td,
                                 updated if group == "completed" else None)
            rec["updated_by"] = member_ids[randrange(len(member_ids))]
            items = per_project_items[pid]
            if items and rand() < 0.05:
                rec["parent"] = items[randrange(len(items))]["id"]
            items.append(rec)
            ws.add("work_item", rec, pid)
        for pid in pids:
            items = per_project_items[pid]
            picks = rng.sample(items, min(len(items), n_archived + n_drafts))
            for rec in picks[:n_archived]:
                rec["archived_at"] = rec["updated_at"].date()
            for rec in picks[n_archived:]:
                rec["is_draft"] = True
            # Cycle and module work items, without touching the RNG: every third item (by
            # sequence id) is in a cycle, every fourth in a module, round-robin.
            for kind, step, target in (("cycle", 3, ws.cycle_issues), ("module", 4, ws.module_issues)):
                owners = list(ws.children[kind].get(pid, {}))
                if owners:
                    for rec in items[step - 1::step]:
                        target.setdefault(owners[(rec["sequence_id"] // step) % len(owners)],
                                          []).append(rec["id"])
    ws.last_ts = now
    return ws


# --------------------------------------------------------------------------- sorting

def _nz(v):
    return (v is None, v)


def sort_key(ws, field):
    if field == "priority":
        return lambda r: PRIORITY_RANK.get(r.get("priority"), 99)  # noqa: E731
    if "__" in field:
        fk, sub = field.split("__", 1)
        return lambda r: _nz((ws.index.get(r.get(fk)) or (None, {}))[1].get(sub))  # noqa: E731
    return lambda r: _nz(r.get(field))  # noqa: E731


def sort_rows(ws, rows, order_by):
    """Sort by `order_by` ('-' = descending, Postgres null placement), tiebreak by id ascending."""
    desc = order_by.startswith("-")
    field = order_by.lstrip("-")
    rows.sort(key=lambda r: r["id"])
    key = sort_key(ws, field)
    try:
        rows.sort(key=key, reverse=desc)
    except TypeError:
        rows.sort(key=lambda r: _nz(None if key(r)[1] is None else str(key(r)[1])), reverse=desc)
    return rows


_TIE_RNG = random.Random()   # tie_shuffle: deliberately not seeded


def shuffle_ties(ws, rows, order_by):
    """A copy of sorted `rows` whose runs of equal sort keys are shuffled anew (tie_shuffle): like
    Postgres without a tiebreaker, LIMIT/OFFSET pages may then repeat or skip tied rows."""
    key = sort_key(ws, order_by.lstrip("-"))
    out = list(rows)
    keys = [key(r) for r in out]
    i, n = 0, len(out)
    while i < n:
        j = i + 1
        while j < n and keys[j] == keys[i]:
            j += 1
        if j - i > 1:
            run = out[i:j]
            _TIE_RNG.shuffle(run)
            out[i:j] = run
        i = j
    return out


# --------------------------------------------------------------------------- webhooks

def sign(secret, body_bytes):
    return hmac.new(secret.encode("utf-8"), body_bytes, hashlib.sha256).hexdigest()


def v1_data(ws, typ, rec):
    d = render(rec, UTC)
    if typ == "work_item":
        st = ws.index.get(rec["state"])
        d["state"] = ({k: st[1][k] for k in ("id", "name", "color", "group")} if st else None)
        d["labels"] = [{k: ws.index[i][1][k] for k in ("id", "name", "color")}
                       for i in rec["labels"] if i in ws.index]
        d["assignees"] = [ws.user_lite(u) for u in rec["assignees"] if u in ws.users]
    return d


def make_delivery(secret, version, event_header, payload, delivery_id):
    body = json.dumps(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "Autopilot",
               "X-Plane-Delivery": delivery_id, "X-Plane-Event": event_header,
               "X-Plane-Signature": sign(secret, body.encode("utf-8"))}
    return {"version": version, "headers": headers, "body": body}


def v1_delivery(ws, typ, action, data, actor, field=None, new=None, old=None):
    event = V1_EVENT[typ]
    payload = {"event": event, "action": action, "webhook_id": ws.webhook_id,
               "workspace_id": ws.id, "data": data,
               "activity": {"field": field, "new_value": new, "old_value": old,
                            "actor": ws.user_lite(actor), "old_identifier": None,
                            "new_identifier": None}}
    return make_delivery(ws.webhook_secret, "v1", event, payload, str(uuid.uuid4()))


def _none_str(v):
    """v2 Cloud: every null scalar is the string "None" (Python's str(None))."""
    if v is None:
        return "None"
    if v.__class__ is dict:
        return {k: _none_str(x) for k, x in v.items()}
    if v.__class__ is list:
        return [_none_str(x) for x in v]
    return v


def cloud_shape(typ, d, previous=False):
    """A UTC API rendering -> Plane Cloud's v2 webhook shape: `*_id` names, "None" for nulls and
    `+00:00` datetimes in `data`; Postgres text datetimes (and real nulls) in previous_attributes."""
    ren = V2_CLOUD_RENAMES.get(typ, {})
    dts = DT_FIELDS.get(typ, ())
    out = {}
    for k, v in d.items():
        if k in dts and isinstance(v, str) and v.endswith("Z"):
            v = v[:-1].replace("T", " ") + "+00" if previous else v[:-1] + "+00:00"
        elif not previous:
            v = _none_str(v)
        out[ren.get(k, k)] = v
    return out


def v2_delivery(ws, typ, action, entity_id, data, previous, event_id):
    if ws.settings["v2_shape"] == "cloud":
        data = cloud_shape(typ, data)
        previous = cloud_shape(typ, previous, previous=True)
    event = f"{V2_ENTITY[typ]}.{action}"
    delivery_id = str(uuid.uuid4())
    payload = {"version": "v2", "delivery_id": delivery_id, "event_id": event_id,
               "entity_id": entity_id, "entity_type": V2_ENTITY[typ], "event": event,
               "webhook_id": ws.webhook_id_v2, "workspace_id": ws.id, "data": data,
               "previous_attributes": previous}
    return make_delivery(ws.webhook_secret, "v2", event, payload, delivery_id)


def deliver(url, deliveries, timeout=10.0):
    """POST each delivery's exact body to url; returns [{version, event, status|error}]."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    out = []
    for d in deliveries:
        res = {"version": d["version"], "event": d["headers"]["X-Plane-Event"]}
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
            try:
                conn.request("POST", path, body=d["body"].encode("utf-8"), headers=d["headers"])
                resp = conn.getresponse()
                resp.read()
                res["status"] = resp.status
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as e:
            res["status"] = None
            res["error"] = str(e)
        out.append(res)
    return out


# --------------------------------------------------------------------------- changes

def coerce(typ, key, value):
    if key in DT_FIELDS[typ]:
        return parse_dt(value)
    if key in DATE_FIELDS[typ]:
        return parse_date(value)
    if isinstance(value, list):
        return list(value)
    return value


def find(ws, typ, obj_id, pid=None):
    hit = ws.index.get(obj_id)
    if not hit or hit[0] != typ:
        raise ApiError(404, {"error": f"no {typ} {obj_id!r} in workspace {ws.slug!r}"})
    rec = hit[1]
    if pid and typ != "project" and rec.get("project") != pid:
        raise ApiError(404, {"error": f"{typ} {obj_id!r} is not in project {pid!r}"})
    return rec


def apply_change(ws, op, typ, obj_id=None, pid=None, fields=None, actor=None):
    """Perform one change; returns (record, deliveries).  Caller holds the lock."""
    if typ == "page":
        # Plane sends no webhook for pages: an edit only moves the page's updated_at.
        if op != "update":
            raise ApiError(400, {"error": "type page supports op update only"})
        rec = find(ws, "page", obj_id, pid)
        ws.invalidate()
        for k in ("name", "description_html"):
            if k in (fields or {}):
                rec[k] = fields[k]
        rec["updated_at"] = ws.now()
        rec["updated_by"] = actor or ws.owner
        return rec, []
    if typ not in V1_EVENT:
        raise ApiError(400, {"error": f"type must be one of {sorted(V1_EVENT)}"})
    fields = dict(fields or {})
    actor = actor or ws.owner
    event_id = ws.uid()
    out = []
    ws.invalidate()
    if op == "create":
        rec = create_record(ws, typ, pid, fields, actor)
        out.append(v1_delivery(ws, typ, "created", v1_data(ws, typ, rec), actor))
        out.append(v2_delivery(ws, typ, "created", rec["id"], render(rec, UTC), {}, event_id))
        return rec, out
    rec = find(ws, typ, obj_id, pid)
    if op == "restore":
        if rec["deleted_at"] is None:
            raise ApiError(409, {"error": "not deleted"})
        rec["deleted_at"] = None
        rec["updated_at"] = ws.now()
        ws.deleted_ids = [i for i in ws.deleted_ids if i != rec["id"]]
        if typ == "project":
            for t in ws.children:
                for child in ws.children[t].get(rec["id"], {}).values():
                    if child.get("_cascade") == rec["id"]:
                        child["deleted_at"] = None
                        del child["_cascade"]
                        ws.deleted_ids = [i for i in ws.deleted_ids if i != child["id"]]
        out.append(v1_delivery(ws, typ, "created", v1_data(ws, typ, rec), actor))
        out.append(v2_delivery(ws, typ, "created", rec["id"], render(rec, UTC), {}, event_id))
        return rec, out
    if rec["deleted_at"] is not None:
        raise ApiError(404, {"error": f"{typ} {obj_id!r} is deleted"})
    before = render(rec, UTC)
    if op == "delete":
        now = ws.now()
        rec["deleted_at"] = now
        ws.deleted_ids.append(rec["id"])
        if typ == "project":
            for t in ws.children:
                for child in ws.children[t].get(rec["id"], {}).values():
                    if child["deleted_at"] is None:
                        child["deleted_at"] = now
                        child["_cascade"] = rec["id"]
                        ws.deleted_ids.append(child["id"])
            out.append(v1_delivery(ws, typ, "deleted", {"id": rec["id"]}, actor))
        out.append(v2_delivery(ws, typ, "deleted", rec["id"], {}, before, event_id))
        return rec, out
    if op == "archive":
        if rec["archived_at"] is not None:
            raise ApiError(409, {"error": "already archived"})
        now = ws.now()
        rec["archived_at"] = now.date() if typ == "work_item" else now
        rec["updated_at"] = now
        after = render(rec, UTC)
        out.append(v1_delivery(ws, typ, "updated", v1_data(ws, typ, rec), actor, "archived_at",
                               after["archived_at"], before["archived_at"]))
        out.append(v2_delivery(ws, typ, "archived", rec["id"], {}, before, event_id))
        return rec, out
    if op == "unarchive":
        if rec["archived_at"] is None:
            raise ApiError(409, {"error": "not archived"})
        rec["archived_at"] = None
        rec["updated_at"] = ws.now()
        out.append(v1_delivery(ws, typ, "updated", v1_data(ws, typ, rec), actor, "archived_at",
                               None, before["archived_at"]))
        out.append(v2_delivery(ws, typ, "updated", rec["id"], render(rec, UTC),
                               {"archived_at": before["archived_at"]}, event_id))
        return rec, out
    if op == "bulk_update":
        # QuerySet.bulk_update: no auto_now (updated_at stays), no model_activity (no webhook).
        if typ not in ("work_item", "cycle", "module"):
            raise ApiError(400, {"error": "bulk_update supports type work_item, cycle and module"})
        bulk_update_record(ws, typ, rec, fields)
        return rec, out
    if op == "update":
        changed = update_record(ws, typ, rec, fields, actor)
        after = render(rec, UTC)
        data = v1_data(ws, typ, rec)
        for k in changed:
            out.append(v1_delivery(ws, typ, "updated", data, actor, k, after[k], before[k]))
        if changed:
            out.append(v2_delivery(ws, typ, "updated", rec["id"], after,
                                   {k: before[k] for k in changed}, event_id))
        return rec, out
    raise ApiError(400, {"error": "op must be one of create, update, bulk_update, delete, archive, "
                                  "unarchive, restore"})


def bulk_update_record(ws, typ, rec, fields):
    """Apply fields without touching updated_at/updated_by; completed_at follows the state group."""
    old_state = rec.get("state")
    for k, v in fields.items():
        if k == "id" or k.startswith("_") or k not in rec:
            continue
        rec[k] = coerce(typ, k, v)
    if typ == "work_item" and "state" in fields and old_state != rec["state"]:
        st = ws.index.get(rec["state"])
        if st and st[1]["group"] == "completed":
            rec["completed_at"] = ws.now()
        elif "completed_at" not in fields:
            rec["completed_at"] = None


def update_record(ws, typ, rec, fields, actor):
    """Apply fields; returns the request keys whose rendered value changed (Plane's fan-out)."""
    before = render(rec, UTC)
    for k, v in fields.items():
        if k == "id" or k.startswith("_") or k not in rec:
            continue
        rec[k] = coerce(typ, k, v)
    if typ == "work_item" and "state" in fields and before["state"] != rec["state"]:
        st = ws.index.get(rec["state"])
        if st and st[1]["group"] == "completed":
            rec["completed_at"] = ws.now()
        elif "completed_at" not in fields:
            rec["completed_at"] = None
    if "updated_at" not in fields:
        rec["updated_at"] = ws.now()
    if "updated_by" not in fields and "updated_by" in rec:
        rec["updated_by"] = actor
    after = render(rec, UTC)
    return [k for k in fields if k in before and k != "id" and before[k] != after[k]]


def create_record(ws, typ, pid, fields, actor):
    now = ws.now()
    if typ != "project":
        proj = ws.projects.get(pid)
        if not proj or proj["deleted_at"] is not None:
            raise ApiError(404, {"error": f"project {pid!r} not found"})
    name = fields.get("name")
    if typ == "project":
        n = len(ws.projects)
        base_name, ident = PROJECT_NAMES[n % len(PROJECT_NAMES)]
        ident = fields.get("identifier") or f"{ident}{n}"
        rec = make_project(ws, name or f"{base_name} {n}", ident, now,
                           15535.0 + 10000.0 * n, actor)
        rec["_members"] = {m["id"]: m["role"] for m in ws.members}
        rec["total_members"] = len(rec["_members"])
        ws.add("project", rec)
        pid = rec["id"]
        ws.seq[pid] = 0
        for j, (sname, group, color) in enumerate(STATE_DEFS):
            st = make_state(ws, pid, sname, group, color, 15000 + 10000 * j, now, actor)
            ws.add("state", st, pid)
            if group == "backlog":
                rec["default_state"] = st["id"]
    elif typ == "work_item":
        ws.seq[pid] = ws.seq.get(pid, 0) + 1
        proj = ws.projects[pid]
        rec = make_work_item(ws, pid, ws.seq[pid], name or "Untitled", now, now,
                             proj["default_state"], "none", actor)
        ws.add("work_item", rec, pid)
    elif typ == "cycle":
        n = len(ws.children["cycle"].get(pid, {}))
        rec = make_cycle(ws, pid, name or f"Cycle {n + 1}", None, None, now, actor, 65535 * (n + 1))
        rec["timezone"] = ws.projects[pid]["timezone"]
        ws.add("cycle", rec, pid)
    else:
        n = len(ws.children["module"].get(pid, {}))
        rec = make_module(ws, pid, name or f"Module {n + 1}", None, None, "backlog", now, actor,
                          65535 * (n + 1), [])
        ws.add("module", rec, pid)
    for k, v in fields.items():
        if k in ("id", "project", "workspace", "sequence_id") or k.startswith("_") or k not in rec:
            continue
        rec[k] = coerce(typ, k, v)
    if typ == "work_item":
        st = ws.index.get(rec["state"])
        if st and st[1]["group"] == "completed" and rec["completed_at"] is None:
            rec["completed_at"] = now
    return rec


# --------------------------------------------------------------------------- API routing

_WS = r"^/api/v1/workspaces/([^/]+)"
_P = _WS + r"/projects/([^/]+)"
ROUTES = [
    ("users_me", re.compile(r"^/api/v1/users/me/$"), {"GET": "api_me"}),
    ("workspace_members", re.compile(_WS + r"/members/$"), {"GET": "api_ws_members"}),
    ("workspace_pages", re.compile(_WS + r"/pages/$"), {"GET": "api_ws_pages"}),
    ("workspace_page", re.compile(_WS + r"/pages/([^/]+)/$"), {"GET": "api_ws_page"}),
    ("work_item_by_key", re.compile(_WS + r"/(?:work-items|issues)/([A-Za-z0-9]+)-(\d+)/$"),
     {"GET": "api_item_by_key"}),
    ("projects", re.compile(_WS + r"/projects/$"), {"GET": "api_projects"}),
    ("project", re.compile(_P + r"/$"), {"GET": "api_project"}),
    ("work_items", re.compile(_P + r"/(?:work-items|issues)/$"),
     {"GET": "api_items", "POST": "api_item_create"}),
    ("work_item", re.compile(_P + r"/(?:work-items|issues)/([^/]+)/$"),
     {"GET": "api_item", "PATCH": "api_item_patch"}),
    ("cycles", re.compile(_P + r"/cycles/$"), {"GET": "api_cycles"}),
    ("cycle", re.compile(_P + r"/cycles/([^/]+)/$"), {"GET": "api_cycle"}),
    ("archived_cycles", re.compile(_P + r"/archived-cycles/$"), {"GET": "api_archived_cycles"}),
    ("modules", re.compile(_P + r"/modules/$"), {"GET": "api_modules"}),
    ("module", re.compile(_P + r"/modules/([^/]+)/$"), {"GET": "api_module"}),
    ("archived_modules", re.compile(_P + r"/archived-modules/$"), {"GET": "api_archived_modules"}),
    ("states", re.compile(_P + r"/states/$"), {"GET": "api_states"}),
    ("state", re.compile(_P + r"/states/([^/]+)/$"), {"GET": "api_state"}),
    ("labels", re.compile(_P + r"/labels/$"), {"GET": "api_labels"}),
    ("label", re.compile(_P + r"/labels/([^/]+)/$"), {"GET": "api_label"}),
    ("project_members", re.compile(_P + r"/(?:members|project-members)/$"),
     {"GET": "api_project_members"}),
    ("project_pages", re.compile(_P + r"/pages/$"), {"GET": "api_project_pages"}),
    ("project_page", re.compile(_P + r"/pages/([^/]+)/$"), {"GET": "api_project_page"}),
    ("work_item_search", re.compile(_WS + r"/(?:work-items|issues)/search/$"),
     {"GET": "api_item_search"}),
    ("work_item_comments", re.compile(_P + r"/(?:work-items|issues)/([^/]+)/comments/$"),
     {"GET": "api_item_comments"}),
    ("cycle_issues", re.compile(_P + r"/cycles/([^/]+)/cycle-issues/$"), {"GET": "api_cycle_issues"}),
    ("module_issues", re.compile(_P + r"/modules/([^/]+)/module-issues/$"),
     {"GET": "api_module_issues"}),
]
ROUTE_METHODS = {name: methods for name, _, methods in ROUTES}
PAGE_ROUTES = {"workspace_pages", "workspace_page", "project_pages", "project_page"}
REFUSE_ROUTES = {"workspace_pages": "pages", "workspace_page": "pages", "project_pages": "pages",
                 "project_page": "pages", "archived_cycles": "archived-cycles",
                 "archived_modules": "archived-modules", "cycle_issues": "cycle-issues",
                 "module_issues": "module-issues"}
# work_items_route false: Plane before v1.1.0 has no `work-items/` URL at all.
_WORK_ITEMS_PATH = re.compile(r"^/api/v1/workspaces/([^/]+)/(?:projects/[^/]+/)?work-items(?:/|$)")
NOT_FOUND = {"detail": "Not found."}
RATE_BODY = {"error_code": 5900, "error_message": "RATE_LIMIT_EXCEEDED"}
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
# Django's handler404 in Plane is a JsonResponse: json.dumps separators, not DRF's compact ones.
PAGE_NOT_FOUND_BYTES = json.dumps({"error": "Page not found."}).encode("utf-8")
REFUSE_BODIES = {403: NO_PERMISSION, 400: {"error": "This feature is not available on your plan."},
                 404: NOT_FOUND}


def dumps_api(obj):
    """DRF JSONRenderer: compact, UTF-8, no ASCII escaping."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Ctx:
    __slots__ = ("ws", "tz", "query", "body", "user", "fields", "method")


# --------------------------------------------------------------------------- OAuth apps and MCP

OAUTH_DEFAULT_SCOPE = ("projects:read projects.work_items:read projects.work_items:write "
                       "projects.states:read projects.labels:read workspaces.members:read")
OAUTH_CODE_TTL = 600
MCP_PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18")
MCP_DEFAULTS = {"mode": "json", "error_status": 500, "fail": False, "fail_next": 0, "hang": False,
                "page_size": 0, "sse_noise": True, "sse_crlf": False, "stale_session_status": 404,
                "require_api_key": False, "session_ttl_s": 0}
OAUTH_CONFIG_DEFAULTS = {"omit_state": False}
_ACTION_ARG = {"type": "string", "description": "What to do"}
MCP_TOOLS = [
    {"name": "workitem", "title": "Work items",
     "description": "Work items of a project. Actions: list (project_id, per_page, cursor, "
                    "order_by), retrieve (project_id, work_item_id), retrieve_by_identifier "
                    "(identifier, e.g. WEB-12), create (project_id, name, ...), update "
                    "(project_id, work_item_id, fields to change).",
     "inputSchema": {"type": "object", "required": ["action"], "properties": {
         "action": dict(_ACTION_ARG, enum=["list", "retrieve", "retrieve_by_identifier", "create",
                                           "update"]),
         "project_id": {"type": "string"}, "work_item_id": {"type": "string"},
         "identifier": {"type": "string"}, "per_page": {"type": "integer"},
         "cursor": {"type": "string"}, "order_by": {"type": "string"},
         "name": {"type": "string"}, "state": {"type": "string"}, "priority": {"type": "string"},
         "assignees": {"type": "array", "items": {"type": "string"}},
         "labels": {"type": "array", "items": {"type": "string"}},
         "start_date": {"type": "string"}, "target_date": {"type": "string"},
         "description_html": {"type": "string"}}},
     "annotations": {"title": "Work items", "readOnlyHint": False, "destructiveHint": False,
                     "idempotentHint": False, "openWorldHint": True}},
    {"name": "project", "title": "Projects",
     "description": "Projects of the workspace. Actions: list (per_page, cursor), retrieve "
                    "(project_id).",
     "inputSchema": {"type": "object", "required": ["action"], "properties": {
         "action": dict(_ACTION_ARG, enum=["list", "retrieve"]),
         "project_id": {"type": "string"}, "per_page": {"type": "integer"},
         "cursor": {"type": "string"}}},
     "annotations": {"title": "Projects", "readOnlyHint": True, "destructiveHint": False,
                     "idempotentHint": True, "openWorldHint": True}},
    {"name": "state", "title": "States",
     "description": "Workflow states of a project. Actions: list (project_id), retrieve "
                    "(project_id, state_id).",
     "inputSchema": {"type": "object", "required": ["action"], "properties": {
         "action": dict(_ACTION_ARG, enum=["list", "retrieve"]),
         "project_id": {"type": "string"}, "state_id": {"type": "string"}}},
     "annotations": {"title": "States", "readOnlyHint": True, "destructiveHint": False,
                     "idempotentHint": True, "openWorldHint": True}},
    {"name": "get_me", "title": "Current user",
     "description": "The user the credential belongs to.",
     "inputSchema": {"type": "object", "properties": {}},
     "annotations": {"title": "Current user", "readOnlyHint": True, "destructiveHint": False,
                     "idempotentHint": True, "openWorldHint": True}},
]
MCP_TOOL_NAMES = {t["name"] for t in MCP_TOOLS}
MCP_PATHS = ("/mcp", "/mcp/", "/http/api-key/mcp", "/http/api-key/mcp/", "/http/mcp", "/http/mcp/")


class McpToolError(Exception):
    """A tool failure: reported as a result with isError true, not as a JSON-RPC error."""


def oauth_json(status, obj, headers=None):
    h = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    h.update(headers or {})
    return status, dumps_api(obj), h, "application/json"


def oauth_error(status, error, description=None):
    body = {"error": error}
    if description:
        body["error_description"] = description
    return oauth_json(status, body)


def rpc_error(mid, code, message, data=None):
    err = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": mid, "error": err}


class OAuthMcpMixin:
    """OAuth2 for Plane apps (plane-api.md §4) and an MCP server (§6), mixed into Simulator.
    Uses the Simulator's lock, creds, workspaces and REST endpoint methods."""

    def _init_oauth_mcp(self):
        old = getattr(self, "mcp_hang_event", None)
        with self.lock:
            self.oauth_apps = {}        # client_id -> app
            self.oauth_codes = {}       # code -> grant
            self.oauth_refresh = {}     # refresh token -> grant (deleted when used: rotation)
            self.oauth_states = []      # `state` values seen by authorize-app, in order
            self.oauth_log = collections.deque(maxlen=10000)  # token requests: grant, client, status
            self.oauth_faults = {}
            self.oauth_config = dict(OAUTH_CONFIG_DEFAULTS)
            self.mcp_config = dict(MCP_DEFAULTS)
            self.mcp_sessions = {}      # session id -> {"cred", "workspace", "initialized", ...}
            self.mcp_log = collections.deque(maxlen=10000)    # MCP requests: method, session, tool
            self.mcp_hang_event = threading.Event()
        if old is not None:
            old.set()

    # ------------------------------------------------------------------ OAuth control
    def oauth_control(self, method, parts, body):
        sub = parts[0] if parts else ""
        with self.lock:
            if sub == "" and method == "GET":
                return 200, {"apps": list(self.oauth_apps.values()), "states": list(self.oauth_states),
                             "log": list(self.oauth_log), "faults": dict(self.oauth_faults),
                             "live_refresh_tokens": len(self.oauth_refresh),
                             "live_codes": len(self.oauth_codes)}
            if sub == "apps" and method == "POST":
                return 200, self._oauth_register(body)
            if sub == "config" and method == "GET":
                return 200, {"config": dict(self.oauth_config)}
            if sub == "config" and method == "POST":
                cfg = dict(OAUTH_CONFIG_DEFAULTS)
                unknown = set(body) - set(cfg)
                if unknown:
                    raise ApiError(400, {"error": f"unknown OAuth settings {sorted(unknown)}"})
                cfg.update(body)
                if not isinstance(cfg["omit_state"], bool):
                    raise ApiError(400, {"error": "omit_state must be true or false"})
                self.oauth_config = cfg
                return 200, {"config": dict(cfg)}
            if sub == "faults" and method == "POST":
                f = {}
                if body.get("fail_next_refresh"):
                    f["fail_next_refresh"] = int(body["fail_next_refresh"])
                    f["refresh_status"] = int(body.get("refresh_status", 400))
                self.oauth_faults = f
                return 200, {"faults": f}
            if sub == "expire" and method == "POST":
                return 200, self._oauth_expire(body)
        raise ApiError(404, {"error": f"unknown control endpoint {method} /_sim/oauth/{'/'.join(parts)}"})

    def _oauth_register(self, body):
        ws = self.get_ws(body.get("workspace"))
        redirect = body.get("redirect_uri")
        if not redirect or not isinstance(redirect, str):
            raise ApiError(400, {"error": "redirect_uri is required"})
        client_id = str(body.get("client_id") or ("sim_client_" + secrets.token_hex(8)))
        old = self.oauth_apps.get(client_id)
        app = {"id": old["id"] if old else ws.uid(),
               "client_id": client_id,
               "client_secret": str(body.get("client_secret") or ("sim_secret_" + secrets.token_hex(16))),
               "redirect_uri": redirect,
               "app_installation_id": str(body.get("app_installation_id") or str(uuid.uuid4())),
               "workspace": ws.slug,
               "expires_in": int(body.get("expires_in", 86400)),
               "scope": str(body.get("scope") or OAUTH_DEFAULT_SCOPE),
               "app_bot": old["app_bot"] if old else ws.uid()}
        self.oauth_apps[client_id] = app
        return dict(app)

    def _oauth_expire(self, body):
        client_id = body.get("client_id")
        kind = body.get("kind", "all")
        n = 0
        for cred in self.creds.values():
            if "oauth_client" not in cred:
                continue
            if client_id and cred["oauth_client"] != client_id:
                continue
            if kind != "all" and cred["token_kind"] != kind:
                continue
            cred["expires_at"] = time.time() - 1
            n += 1
        if body.get("refresh_tokens"):
            for tok in [t for t, g in self.oauth_refresh.items()
                        if not client_id or g["client_id"] == client_id]:
                del self.oauth_refresh[tok]
                n += 1
        return {"expired": n}

    # ------------------------------------------------------------------ OAuth endpoints
    def handle_oauth(self, method, path, query, headers, raw_body):
        """Returns (status, body_bytes, headers, content_type)."""
        try:
            if path == "/auth/o/authorize-app/" and method == "GET":
                return self._oauth_authorize(query)
            if path == "/auth/o/token/" and method == "POST":
                return self._oauth_token(headers, raw_body)
            if path == "/auth/o/app-installation/" and method == "GET":
                return self._oauth_installation(query, headers)
            if path in ("/auth/o/authorize-app/", "/auth/o/token/", "/auth/o/app-installation/"):
                return oauth_json(405, {"detail": f'Method "{method}" not allowed.'})
            return oauth_json(404, NOT_FOUND)
        except ApiError as e:
            return e.status, dumps_api(e.body), dict(e.headers), "application/json"

    def _oauth_authorize(self, q):
        with self.lock:
            app = self.oauth_apps.get(q.get("client_id") or "")
            if app is None:
                return oauth_error(400, "invalid_client", "Unknown client_id.")
            if q.get("response_type") != "code":
                return oauth_error(400, "unsupported_response_type")
            if q.get("redirect_uri") != app["redirect_uri"]:
                return oauth_error(400, "invalid_request", "Mismatching redirect URI.")
            state = q.get("state")
            self.oauth_states.append(state)
            code = "sim_code_" + secrets.token_hex(16)
            self.oauth_codes[code] = {"client_id": app["client_id"], "redirect_uri": app["redirect_uri"],
                                      "scope": q.get("scope") or app["scope"],
                                      "expires_at": time.time() + OAUTH_CODE_TTL}
            params = [("code", code)]
            if state is not None and not self.oauth_config["omit_state"]:
                params.append(("state", state))
            params.append(("app_installation_id", app["app_installation_id"]))
        redirect = app["redirect_uri"]
        location = redirect + ("&" if "?" in redirect else "?") + urlencode(params)
        return 302, b"", {"Location": location}, "application/json"

    def _oauth_client(self, headers, form):
        """(app or None, used_basic)."""
        auth = headers.get("Authorization") or ""
        if auth[:6].lower() == "basic ":
            try:
                cid, _, secret = base64.b64decode(auth[6:].strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, True
            used_basic = True
        else:
            cid, secret, used_basic = form.get("client_id", ""), form.get("client_secret", ""), False
        app = self.oauth_apps.get(cid)
        if app is None or not hmac.compare_digest(app["client_secret"].encode(), secret.encode()):
            return None, used_basic
        return app, used_basic

    def _oauth_issue(self, app, scope, bot=False):
        ws = self.workspaces.get(app["workspace"])
        if ws is None:
            raise ApiError(400, {"error": "invalid_grant", "error_description": "Workspace is gone."})
        prefix = "pln_bot_" if bot else "pln_"
        access = prefix + secrets.token_hex(20)
        self.creds[access] = {"workspace": ws.slug, "tz": ws.tz, "kind": "bearer", "user": ws.owner,
                              "expires_at": time.time() + app["expires_in"],
                              "oauth_client": app["client_id"],
                              "token_kind": "bot" if bot else "access"}
        out = {"access_token": access, "expires_in": app["expires_in"], "token_type": "Bearer",
               "scope": scope}
        if not bot:
            refresh = "pln_refresh_" + secrets.token_hex(20)
            self.oauth_refresh[refresh] = {"client_id": app["client_id"], "scope": scope}
            out["refresh_token"] = refresh
        return out

    def _oauth_token(self, headers, raw_body):
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form, app, used_basic = {}, None, False
        try:
            form = {k: v[-1] for k, v in
                    parse_qs(raw_body.decode("utf-8"), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            ctype = "undecodable"
        grant = form.get("grant_type", "")
        with self.lock:
            if ctype != "application/x-www-form-urlencoded":
                res = oauth_error(400, "invalid_request",
                                  "Content-Type must be application/x-www-form-urlencoded "
                                  "(and the body UTF-8).")
            else:
                app, used_basic = self._oauth_client(headers, form)
                res = self._oauth_grant(grant, form, app, used_basic)
            self.oauth_log.append({"grant_type": grant, "client_id": app["client_id"] if app else None,
                                   "basic_auth": used_basic, "status": res[0],
                                   "error": json.loads(res[1]).get("error") if res[0] >= 400 else None})
        return res

    def _oauth_grant(self, grant, form, app, used_basic):
        if not grant:
            return oauth_error(400, "invalid_request", "Missing grant_type parameter.")
        if grant not in ("authorization_code", "refresh_token", "client_credentials"):
            return oauth_error(400, "unsupported_grant_type")
        if app is None:
            return oauth_error(401, "invalid_client")
        if grant == "authorization_code":
            code = form.get("code", "")
            rec = self.oauth_codes.pop(code, None)    # single use, even when refused below
            if (rec is None or rec["client_id"] != app["client_id"]
                    or time.time() > rec["expires_at"]):
                return oauth_error(400, "invalid_grant")
            if form.get("redirect_uri") != rec["redirect_uri"]:
                return oauth_error(400, "invalid_grant", "Mismatching redirect URI.")
            return oauth_json(200, self._oauth_issue(app, rec["scope"]))
        if grant == "refresh_token":
            f = self.oauth_faults
            if f.get("fail_next_refresh", 0) > 0:
                f["fail_next_refresh"] -= 1
                status = f.get("refresh_status", 400)
                if status == 400:
                    return oauth_error(400, "invalid_grant")
                return oauth_error(status, "server_error", "Simulated failure.")
            tok = form.get("refresh_token", "")
            rec = self.oauth_refresh.get(tok)
            if rec is None or rec["client_id"] != app["client_id"]:
                return oauth_error(400, "invalid_grant")
            del self.oauth_refresh[tok]                 # rotation: the old token is spent
            return oauth_json(200, self._oauth_issue(app, rec["scope"]))
        # client_credentials: a bot token for the app's installation
        if not used_basic:
            return oauth_error(401, "invalid_client",
                               "client_credentials requires HTTP Basic client authentication.")
        if form.get("app_installation_id") != app["app_installation_id"]:
            return oauth_error(400, "invalid_grant", "Unknown app installation.")
        return oauth_json(200, self._oauth_issue(app, form.get("scope") or app["scope"], bot=True))

    def _bearer_cred(self, headers):
        auth = headers.get("Authorization") or ""
        if auth[:7].lower() != "bearer " or not auth[7:].strip():
            return None, None
        tok = auth[7:].strip()
        cred = self.creds.get(tok)
        if cred is None or (cred["expires_at"] is not None and time.time() >= cred["expires_at"]):
            return tok, None
        return tok, cred

    def _oauth_installation(self, q, headers):
        with self.lock:
            _, cred = self._bearer_cred(headers)
            if cred is None or cred["kind"] != "bearer":
                return oauth_json(401, {"detail": "Authentication credentials were not provided."
                                        if not headers.get("Authorization") else "Invalid token."})
            want = q.get("id")
            out = []
            for app in self.oauth_apps.values():
                if app["workspace"] != cred["workspace"]:
                    continue
                if want and app["app_installation_id"] != want:
                    continue
                ws = self.workspaces.get(app["workspace"])
                if ws is None:
                    continue
                out.append({"id": app["app_installation_id"], "workspace": ws.id,
                            "workspace_detail": {"name": ws.name, "slug": ws.slug, "id": ws.id,
                                                 "logo_url": None},
                            "app_bot": app["app_bot"], "status": "installed",
                            "application": app["id"], "installed_by": ws.owner})
        return oauth_json(200, out)

    # ------------------------------------------------------------------ MCP control
    def mcp_control(self, method, parts, body):
        sub = parts[0] if parts else ""
        if sub == "" and method == "GET":
            with self.lock:
                self._mcp_expire_sessions()
                return 200, {"config": dict(self.mcp_config), "sessions": list(self.mcp_sessions),
                             "live_sessions": len(self.mcp_sessions), "log": list(self.mcp_log)}
        if sub == "config" and method == "POST":
            cfg = dict(MCP_DEFAULTS)
            unknown = set(body) - set(cfg)
            if unknown:
                raise ApiError(400, {"error": f"unknown MCP settings {sorted(unknown)}"})
            cfg.update(body)
            if cfg["mode"] not in ("json", "sse"):
                raise ApiError(400, {"error": "mode must be json or sse"})
            cfg["error_status"] = int(cfg["error_status"])
            cfg["fail_next"] = int(cfg["fail_next"])
            cfg["page_size"] = int(cfg["page_size"])
            if cfg["stale_session_status"] not in (400, 404):
                raise ApiError(400, {"error": "stale_session_status must be 400 or 404"})
            if not isinstance(cfg["require_api_key"], bool):
                raise ApiError(400, {"error": "require_api_key must be true or false"})
            cfg["session_ttl_s"] = float(cfg["session_ttl_s"])
            if cfg["session_ttl_s"] < 0:
                raise ApiError(400, {"error": "session_ttl_s must be >= 0"})
            with self.lock:
                old = self.mcp_hang_event
                self.mcp_config = cfg
                self.mcp_hang_event = threading.Event()
            old.set()   # release requests hanging under the previous configuration
            return 200, {"config": cfg}
        if sub == "reset" and method == "POST":
            with self.lock:
                self.mcp_sessions.clear()
                self.mcp_log.clear()
            return 200, {"ok": True}
        raise ApiError(404, {"error": f"unknown control endpoint {method} /_sim/mcp/{'/'.join(parts)}"})

    # ------------------------------------------------------------------ MCP endpoint
    def _mcp_expire_sessions(self):
        """Drops sessions idle for longer than session_ttl_s (caller holds the lock)."""
        ttl = self.mcp_config["session_ttl_s"]
        if ttl:
            limit = time.monotonic() - ttl
            for sid in [k for k, v in self.mcp_sessions.items() if v["last_used"] < limit]:
                del self.mcp_sessions[sid]

    def _mcp_stale(self):
        """The answer for an unknown or expired session id: 404 (spec) or 400 (older SDKs)."""
        if self.mcp_config["stale_session_status"] == 400:
            return self._mcp_reply(400, rpc_error(None, -32000, "Bad Request: No valid session ID provided"))
        return self._mcp_reply(404, rpc_error(None, -32001, "Session not found"))

    def handle_mcp(self, method, headers, raw_body, client_gone, path="/mcp"):
        """Returns (status, body_bytes, headers, content_type), or None to drop the connection.
        `/http/api-key/mcp` is Plane's hosted API-key endpoint (API keys only, each request also
        spends one REST rate-limit slot of the key); `/http/mcp` is the hosted OAuth proxy, which
        takes no raw Plane credential at all."""
        while True:
            cfg, ev = self.mcp_config, self.mcp_hang_event
            if not cfg["hang"]:
                break
            while not ev.wait(0.2):
                if self.shutting_down.is_set() or client_gone():
                    return None
        with self.lock:
            if self.mcp_config is cfg and cfg["fail_next"] > 0:
                cfg["fail_next"] -= 1
                failing = True
            else:
                failing = cfg["fail"]
        if failing:
            return cfg["error_status"], dumps_api({"error": "Simulated MCP failure."}), {}, "application/json"
        if method not in ("POST", "DELETE"):
            return 405, b"", {"Allow": "POST, DELETE"}, "application/json"
        # Auth: a Plane API key (or a bearer token) as Bearer, plus the workspace slug.
        endpoint = path.rstrip("/")
        with self.lock:
            tok, cred = self._bearer_cred(headers)
            need_key = endpoint == "/http/api-key/mcp" or self.mcp_config["require_api_key"]
        if endpoint == "/http/mcp":
            cred = None     # the OAuth proxy only accepts tokens it issued itself
        if cred is None or (need_key and cred["kind"] != "api_key"):
            return (401, dumps_api({"error": "invalid_token",
                                    "error_description": "Missing or invalid bearer token"}),
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'}, "application/json")
        if endpoint == "/http/api-key/mcp":
            # The hosted server checks the key with GET /api/v1/users/me/: one REST request.
            try:
                self.throttle(tok)
            except ApiError as e:
                return e.status, dumps_api(e.body), dict(e.headers), "application/json"
        slug = headers.get("X-Workspace-slug")
        if not slug:
            return self._mcp_reply(400, rpc_error(None, -32600, "X-Workspace-slug header is required"))
        if slug != cred["workspace"] and (slug not in cred.get("also", ()) or slug not in self.workspaces):
            return 403, dumps_api({"error": "forbidden", "error_description":
                                   "The credential cannot reach this workspace"}), {}, "application/json"
        sid = headers.get("Mcp-Session-Id")
        if method == "DELETE":
            with self.lock:
                self._mcp_expire_sessions()
                sess = self.mcp_sessions.get(sid or "")
                if sess is None or sess["cred"] != tok:
                    return self.mcp_config["stale_session_status"], b"", {}, "application/json"
                del self.mcp_sessions[sid]
            return 200, b"", {}, "application/json"
        accept = (headers.get("Accept") or "").lower()
        if "application/json" not in accept or "text/event-stream" not in accept:
            return self._mcp_reply(406, rpc_error(None, -32600, "Not Acceptable: Client must accept "
                                                  "both application/json and text/event-stream"))
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return self._mcp_reply(415, rpc_error(None, -32600,
                                                  "Unsupported Media Type: Content-Type must be application/json"))
        version = headers.get("Mcp-Protocol-Version")
        if version and version not in MCP_PROTOCOL_VERSIONS:
            return self._mcp_reply(400, rpc_error(None, -32600,
                                                  f"Bad Request: Unsupported protocol version: {version}"))
        try:
            msg = json.loads(raw_body)
        except ValueError:
            return self._mcp_reply(400, rpc_error(None, -32700, "Parse error"))
        messages = msg if isinstance(msg, list) else [msg]
        if not messages or not all(isinstance(m, dict) for m in messages):
            return self._mcp_reply(400, rpc_error(None, -32600, "Invalid Request"))
        is_init = any(m.get("method") == "initialize" for m in messages)
        new_sid = None
        with self.lock:
            if is_init:
                if len(messages) != 1:
                    return self._mcp_reply(400, rpc_error(None, -32600,
                                                          "initialize must not be part of a batch"))
                new_sid = uuid.uuid4().hex
                sess = {"cred": tok, "workspace": slug, "initialized": False, "protocol": None,
                        "last_used": time.monotonic()}
            else:
                if not sid:
                    return self._mcp_reply(400, rpc_error(None, -32000, "Bad Request: Missing session ID"))
                self._mcp_expire_sessions()
                sess = self.mcp_sessions.get(sid)
                if sess is None or sess["cred"] != tok or sess["workspace"] != slug:
                    return self._mcp_stale()
                sess["last_used"] = time.monotonic()
            replies = []
            for m in messages:
                r = self._mcp_message(m, sess, sid or new_sid, cred)
                if r is not None:
                    replies.append(r)
            if new_sid:
                self.mcp_sessions[new_sid] = sess
        extra = {"Mcp-Session-Id": new_sid} if new_sid else {}
        if not replies:
            return 202, b"", extra, "application/json"
        return self._mcp_reply(200, replies if isinstance(msg, list) else replies[0], extra)

    def _mcp_reply(self, status, payload, extra=None):
        extra = dict(extra or {})
        if status != 200 or self.mcp_config["mode"] == "json":
            return status, dumps_api(payload), extra, "application/json"
        nl = "\r\n" if self.mcp_config["sse_crlf"] else "\n"
        out = []
        if self.mcp_config["sse_noise"]:
            out.append(": plane_sim keep-alive" + nl + nl)
            note = {"jsonrpc": "2.0", "method": "notifications/message",
                    "params": {"level": "info", "logger": "plane_sim", "data": "working"}}
            out.append("event: message" + nl + "data: " + json.dumps(note) + nl + nl)
        for i, m in enumerate(payload if isinstance(payload, list) else [payload]):
            # Pretty-printed, so one JSON-RPC message spans several data: lines.
            lines = json.dumps(m, indent=1, ensure_ascii=False).split("\n")
            out.append("event: message" + nl + f"id: {i + 1}" + nl +
                       "".join("data: " + line + nl for line in lines) + nl)
        extra["Cache-Control"] = "no-cache"
        return status, "".join(out).encode("utf-8"), extra, "text/event-stream"

    def _mcp_message(self, m, sess, sid, cred):
        """One JSON-RPC message; returns the response object, or None for notifications."""
        method = m.get("method")
        mid = m.get("id")
        entry = {"method": method, "id": mid, "session": sid, "workspace": sess["workspace"]}
        self.mcp_log.append(entry)
        if method is None:          # a response to a server request: nothing to do
            return None
        if m.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return rpc_error(mid, -32600, "Invalid Request") if "id" in m else None
        if "id" not in m:           # notification
            if method == "notifications/initialized":
                sess["initialized"] = True
            return None
        params = m.get("params") if isinstance(m.get("params"), dict) else {}
        if method == "initialize":
            asked = params.get("protocolVersion")
            sess["protocol"] = asked if asked in MCP_PROTOCOL_VERSIONS else "2025-03-26"
            sess["client"] = params.get("clientInfo")
            return {"jsonrpc": "2.0", "id": mid, "result": {
                "protocolVersion": sess["protocol"],
                "capabilities": {"tools": {"listChanged": False}, "logging": {}},
                "serverInfo": {"name": "plane-mcp-server (plane_sim)", "version": "0.3.1"},
                "instructions": "Simulated Plane MCP server."}}
        if method == "ping":
            return {"jsonrpc": "2.0", "id": mid, "result": {}}
        if method == "tools/list":
            size = self.mcp_config["page_size"] or len(MCP_TOOLS)
            cursor = params.get("cursor")
            try:
                start = int(cursor) if cursor else 0
                if start < 0 or start > len(MCP_TOOLS):
                    raise ValueError
            except (TypeError, ValueError):
                return rpc_error(mid, -32602, "Invalid cursor")
            result = {"tools": MCP_TOOLS[start:start + size]}
            if start + size < len(MCP_TOOLS):
                result["nextCursor"] = str(start + size)
            return {"jsonrpc": "2.0", "id": mid, "result": result}
        if method == "tools/call":
            name = params.get("name")
            args = params.get("arguments", {})
            entry["tool"], entry["arguments"] = name, args
            if name not in MCP_TOOL_NAMES:
                return rpc_error(mid, -32602, f"Unknown tool: {name}")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                return rpc_error(mid, -32602, "arguments must be an object")
            try:
                obj = self._mcp_tool(name, args, sess, cred)
            except McpToolError as e:
                entry["is_error"] = True
                return {"jsonrpc": "2.0", "id": mid, "result": {
                    "content": [{"type": "text", "text": f"Error: {e}"}], "isError": True}}
            entry["is_error"] = False
            structured = obj if isinstance(obj, dict) else {"result": obj}
            return {"jsonrpc": "2.0", "id": mid, "result": {
                "content": [{"type": "text", "text": json.dumps(obj, ensure_ascii=False)}],
                "structuredContent": structured, "isError": False}}
        return rpc_error(mid, -32601, f"Method not found: {method}")

    def _mcp_tool(self, name, args, sess, cred):
        """Runs a tool against the simulator's data (caller holds the lock); McpToolError on failure."""
        ctx = Ctx()
        ctx.method = "GET"
        ctx.user = cred["user"]
        ctx.tz = parse_tz(cred["tz"])
        ctx.fields = None
        ctx.body = {}
        ctx.ws = self.workspaces.get(sess["workspace"])
        if ctx.ws is None:
            raise McpToolError(f"workspace {sess['workspace']!r} does not exist")
        ctx.query = {k: str(args[k]) for k in ("per_page", "cursor", "order_by") if args.get(k) is not None}
        action = args.get("action")

        def need(*keys):
            missing = [k for k in keys if not isinstance(args.get(k), str) or not args.get(k)]
            if missing:
                raise McpToolError(f"{name} {action}: missing argument(s) {', '.join(missing)}")
            return [args[k] for k in keys]

        try:
            if name == "get_me":
                return self.api_me(ctx)[1]
            if name == "project":
                if action == "list":
                    return self.api_projects(ctx)[1]
                if action == "retrieve":
                    return self.api_project(ctx, *need("project_id"))[1]
            elif name == "state":
                if action == "list":
                    return self.api_states(ctx, *need("project_id"))[1]
                if action == "retrieve":
                    return self.api_state(ctx, *need("project_id", "state_id"))[1]
            elif name == "workitem":
                if action == "list":
                    return self.api_items(ctx, *need("project_id"))[1]
                if action == "retrieve":
                    return self.api_item(ctx, *need("project_id", "work_item_id"))[1]
                if action == "retrieve_by_identifier":
                    ident, _, seq = need("identifier")[0].rpartition("-")
                    if not ident or not seq.isdigit():
                        raise McpToolError("identifier must look like WEB-12")
                    return self.api_item_by_key(ctx, ident, seq)[1]
                if action in ("create", "update"):
                    skip = {"action", "project_id", "work_item_id", "per_page", "cursor", "order_by"}
                    ctx.body = {k: v for k, v in args.items() if k not in skip}
                    ctx.method = "POST" if action == "create" else "PATCH"
                    if action == "create":
                        return self.api_item_create(ctx, *need("project_id"))[1]
                    return self.api_item_patch(ctx, *need("project_id", "work_item_id"))[1]
        except ApiError as e:
            raise McpToolError(f"Plane answered HTTP {e.status}: {json.dumps(e.body)}")
        valid = [p["inputSchema"]["properties"]["action"]["enum"] for p in MCP_TOOLS if p["name"] == name]
        raise McpToolError(f"unknown action {action!r} for tool {name}; valid actions: "
                           f"{', '.join(valid[0]) if valid else '-'}")


class Simulator(OAuthMcpMixin):
    def __init__(self, rate_limit=60, rate_window=60.0, verbose=False):
        self.lock = threading.RLock()
        self.rl_lock = threading.Lock()
        self.verbose = verbose
        self.shutting_down = threading.Event()
        self.rate_limit = int(rate_limit)
        self.rate_window = float(rate_window)
        self.workspaces = {}
        self.creds = {}
        self.buckets = {}
        self.faults = {}
        self.fault_regex = None
        self.fault_rng = random.Random(0)
        self.hang_event = threading.Event()
        self.reset_stats()
        self._init_oauth_mcp()

    # ------------------------------------------------------------------ state management
    def reset_stats(self):
        with self.rl_lock:
            self.stats = {"requests": 0, "by_path_kind": collections.Counter(),
                          "status_counts": collections.Counter(), "rate_limited": 0,
                          "max_requests_in_any_window": 0, "faults_injected": 0}
            # The last requests, for tests that check which paths a client asked for.
            self.request_log = collections.deque(maxlen=20000)

    def reset(self):
        with self.lock:
            self.workspaces.clear()
            self.creds.clear()
        with self.rl_lock:
            self.buckets.clear()
        self.set_faults({})
        self.reset_stats()
        self._init_oauth_mcp()

    def seed(self, p):
        t0 = time.monotonic()
        ws = seed_workspace(p)
        with self.lock:
            old = self.workspaces.get(ws.slug)
            if old is not None:
                for k in [k for k, c in self.creds.items() if c["workspace"] == ws.slug]:
                    del self.creds[k]
            self.workspaces[ws.slug] = ws
            # A Plane API key is a user's token: one key may reach several of its workspaces.
            prev = self.creds.get(ws.api_key)
            others = set(prev.get("also", ())) | {prev["workspace"]} if prev else set()
            others.discard(ws.slug)
            self.creds[ws.api_key] = {"workspace": ws.slug, "tz": ws.tz, "expires_at": None,
                                      "kind": "api_key", "user": ws.owner, "also": others}
        return {"workspace": ws.slug, "workspace_id": ws.id, "api_key": ws.api_key,
                "webhook_secret": ws.webhook_secret, "webhook_id": ws.webhook_id,
                "webhook_id_v2": ws.webhook_id_v2, "owner": ws.owner, "tz": ws.tz,
                "pages_enabled": ws.pages_enabled,
                "projects": [{"id": pid, "identifier": pr["identifier"],
                              "work_items": len(ws.children["work_item"].get(pid, {})),
                              "is_member": ws.owner in pr["_members"], "network": pr["network"]}
                             for pid, pr in ws.projects.items()],
                "non_member_projects": list(ws.non_member_pids),
                "users": [{"id": m["id"], "projects": [pid for pid, pr in ws.projects.items()
                                                       if m["id"] in pr["_members"]]}
                          for m in ws.members],
                "seconds": round(time.monotonic() - t0, 3)}

    def get_ws(self, slug):
        ws = self.workspaces.get(slug)
        if ws is None:
            raise ApiError(404, {"error": f"unknown workspace {slug!r}"})
        return ws

    def set_faults(self, f):
        regex = None
        if f.get("path_regex"):
            try:
                regex = re.compile(f["path_regex"])
            except re.error as e:
                raise ApiError(400, {"error": f"bad path_regex: {e}"})
        for k in ("error_rate", "malformed_rate", "truncate_rate"):
            if k in f:
                f[k] = float(f[k])
        with self.lock:
            old_event = self.hang_event
            self.faults = dict(f)
            self.fault_regex = regex
            self.fault_rng = random.Random(f.get("seed", 0))
            self.hang_event = threading.Event()
        old_event.set()   # release requests hanging under the previous configuration
        return self.faults

    # ------------------------------------------------------------------ rate limit
    def throttle(self, cred):
        now = time.monotonic()
        with self.rl_lock:
            dq = self.buckets.get(cred)
            if dq is None:
                dq = self.buckets[cred] = collections.deque()
            win = self.rate_window
            while dq and dq[0] <= now - win:
                dq.popleft()
            limit = self.rate_limit
            if limit > 0 and len(dq) >= limit:
                self.stats["rate_limited"] += 1
                wait = dq[0] + win - now
                raise ApiError(429, RATE_BODY, {"Retry-After": str(max(1, math.ceil(wait)))})
            dq.append(now)
            if len(dq) > self.stats["max_requests_in_any_window"]:
                self.stats["max_requests_in_any_window"] = len(dq)
            if limit > 0:
                return {"X-RateLimit-Remaining": str(limit - len(dq)),
                        "X-RateLimit-Reset": str(int(time.time() + win))}
            return {}

    # ------------------------------------------------------------------ auth
    def authenticate(self, headers):
        key = headers.get("X-Api-Key")
        if key:
            cred = self.creds.get(key)
            if cred is None or cred["kind"] != "api_key":
                raise ApiError(403, {"detail": "Given API token is not valid"})
            if cred["expires_at"] is not None and time.time() >= cred["expires_at"]:
                raise ApiError(403, {"detail": "Given API token is not valid"})
            return key, cred
        auth = headers.get("Authorization") or ""
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            tok = auth[7:].strip()
            cred = self.creds.get(tok)
            if cred is None or cred["kind"] != "bearer":
                raise ApiError(401, {"detail": "Invalid token."})
            if cred["expires_at"] is not None and time.time() >= cred["expires_at"]:
                raise ApiError(401, {"detail": "Token has expired."})
            return tok, cred
        raise ApiError(401, {"detail": "Authentication credentials were not provided."})

    # ------------------------------------------------------------------ faults
    def _fault_applies(self, path, raw_path):
        rx = self.fault_regex
        return rx is None or bool(rx.search(raw_path) or rx.search(path))

    def _pre_faults(self, path, raw_path, client_gone):
        """Returns None (go on), 'drop', or a response tuple."""
        while True:
            f, ev = self.faults, self.hang_event
            if not f or not self._fault_applies(path, raw_path):
                return None
            if not f.get("hang"):
                break
            with self.rl_lock:
                self.stats["faults_injected"] += 1
            while not ev.wait(0.2):
                if self.shutting_down.is_set() or client_gone():
                    return "drop"
        if f.get("delay_ms"):
            time.sleep(float(f["delay_ms"]) / 1000.0)
        status = None
        with self.lock:
            if self.faults is f:
                if f.get("fail_next", 0) > 0:
                    f["fail_next"] -= 1
                    status = int(f.get("error_status", 503))
                elif f.get("rate_429_next", 0) > 0:
                    f["rate_429_next"] -= 1
                    status = 429
                elif f.get("error_rate") and self.fault_rng.random() < f["error_rate"]:
                    status = int(f.get("error_status", 503))
        if status is None:
            return None
        with self.rl_lock:
            self.stats["faults_injected"] += 1
            if status == 429:
                self.stats["rate_limited"] += 1
        if status == 429:
            return 429, dumps_api(RATE_BODY), {"Retry-After": "1"}, "normal"
        return status, dumps_api({"detail": f"Simulated fault (HTTP {status})."}), {}, "normal"

    def _post_fault_mode(self, path, raw_path):
        f = self.faults
        if not f or not self._fault_applies(path, raw_path):
            return "normal"
        with self.lock:
            if f.get("malformed_rate") and self.fault_rng.random() < f["malformed_rate"]:
                mode = "malformed"
            elif f.get("truncate_rate") and self.fault_rng.random() < f["truncate_rate"]:
                mode = "truncate"
            else:
                return "normal"
        with self.rl_lock:
            self.stats["faults_injected"] += 1
        return mode

    # ------------------------------------------------------------------ request entry point
    def handle_api(self, method, path, raw_path, query, headers, raw_body, client_gone):
        """Returns (status, body_bytes, headers, mode) or None to drop the connection."""
        kind = "unknown"
        for name, rx, methods in ROUTES:
            m = rx.match(path)
            if m:
                kind = name
                break
        res = self._pre_faults(path, raw_path, client_gone)
        if res == "drop":
            self._count(kind, None)
            return None
        if res is None:
            res = self._serve(kind, m if kind != "unknown" else None, method, path, query,
                              headers, raw_body)
            mode = self._post_fault_mode(path, raw_path) if res[0] < 400 else "normal"
            if mode == "malformed":
                body = res[1]
                res = (200, body[:max(1, len(body) // 2)] + b'<!-- upstream error', res[2], "normal")
            elif mode == "truncate":
                res = (res[0], res[1], res[2], "truncate")
        self._count(kind, res[0])
        with self.rl_lock:
            self.request_log.append({"method": method, "path": path, "query": query_text(query),
                                     "status": res[0]})
        return res

    def _count(self, kind, status):
        with self.rl_lock:
            st = self.stats
            st["requests"] += 1
            st["by_path_kind"][kind] += 1
            st["status_counts"]["dropped" if status is None else str(status)] += 1

    def _serve(self, kind, m, method, path, query, headers, raw_body):
        extra = {}
        try:
            if "work-items" in path:
                wm = _WORK_ITEMS_PATH.match(path)
                if wm:
                    ws = self.workspaces.get(wm.group(1))
                    if ws is not None and not ws.settings["work_items_route"]:
                        return 404, PAGE_NOT_FOUND_BYTES, {}, "normal"
            if m is None:
                raise ApiError(404, NOT_FOUND)
            methods = ROUTE_METHODS[kind]
            if method not in methods:
                raise ApiError(405, {"detail": f'Method "{method}" not allowed.'})
            args = m.groups()
            with self.lock:
                if kind in PAGE_ROUTES:
                    ws = self.workspaces.get(args[0])
                    if ws is None or not ws.pages_enabled:
                        raise ApiError(404, NOT_FOUND)
                cred_key, cred = self.authenticate(headers)
            extra = self.throttle(cred_key)
            ctx = Ctx()
            ctx.method = method
            ctx.query = query
            ctx.user = cred["user"]
            ctx.tz = parse_tz(cred["tz"])
            fl = query.get("fields")
            ctx.fields = {f.strip() for f in fl.split(",") if f.strip()} if fl else None
            if raw_body:
                try:
                    ctx.body = json.loads(raw_body)
                except ValueError:
                    raise ApiError(400, {"detail": "JSON parse error"})
            else:
                ctx.body = {}
            with self.lock:
                ws = self.workspaces.get(cred["workspace"])
                if ws is None:
                    raise ApiError(403, {"detail": "Given API token is not valid"})
                if kind != "users_me" and args[0] != ws.slug:
                    if args[0] not in cred.get("also", ()) or args[0] not in self.workspaces:
                        raise ApiError(403, NO_PERMISSION)
                    ws = self.workspaces[args[0]]
                if kind in REFUSE_ROUTES:
                    refused = ws.settings["refuse"].get(REFUSE_ROUTES[kind])
                    if refused:
                        raise ApiError(refused, REFUSE_BODIES.get(
                            refused, {"detail": f"Request refused (HTTP {refused})."}))
                ctx.ws = ws
                status, obj = getattr(self, methods[method])(ctx, *args[1:] if kind != "users_me" else ())
            return status, dumps_api(obj), extra, "normal"
        except ApiError as e:
            return e.status, dumps_api(e.body), dict(extra, **e.headers), "normal"

    # ------------------------------------------------------------------ pagination
    @staticmethod
    def paginate(rows, ctx, default_pp=1000, max_pp=None):
        """max_pp None = the workspace's page_size_cap (default 1000); a given max_pp (pages: 100)
        is lowered to the cap.  page_size_mode "clamp" reduces a larger per_page to the max."""
        q = ctx.query
        settings = ctx.ws.settings
        cap = settings["page_size_cap"]
        if max_pp is None or cap < max_pp:
            max_pp = cap
        if default_pp > max_pp:
            default_pp = max_pp
        pp_raw = q.get("per_page")
        if pp_raw in (None, ""):
            pp = default_pp
        else:
            try:
                pp = int(pp_raw)
            except ValueError:
                raise ApiError(400, {"detail": "Invalid per_page parameter."})
            if pp > max_pp:
                if settings["page_size_mode"] != "clamp":
                    raise ApiError(400, {"detail": f"Invalid per_page value. Cannot exceed {max_pp}."})
                pp = max_pp
            if pp < 1:
                raise ApiError(400, {"detail": "Invalid per_page parameter."})
        page = 0
        cur = q.get("cursor")
        if cur:
            bits = cur.split(":")
            try:
                if len(bits) != 3:
                    raise ValueError
                int(bits[0])
                page = int(bits[1])
                int(bits[2])
            except ValueError:
                raise ApiError(400, {"detail": "Invalid cursor parameter."})
        offset = page * pp
        if offset < 0:
            raise ApiError(400, {"detail": "Error in parsing"})
        total = len(rows)
        chunk = rows[offset:offset + pp]
        tz, fields = ctx.tz, ctx.fields
        results = [render(r, tz, fields) for r in chunk]
        return {
            "grouped_by": None, "sub_grouped_by": None, "total_count": total,
            "next_cursor": f"{pp}:{page + 1}:0", "prev_cursor": f"{pp}:{page - 1}:1",
            "next_page_results": offset + pp < total, "prev_page_results": page > 0,
            "count": len(results), "total_pages": math.ceil(total / pp), "total_results": total,
            "extra_stats": None, "results": results,
        }

    @staticmethod
    def cached(ws, key, build, order_by):
        ck = key + (order_by,)
        rows = ws.cache.get(ck)
        if rows is None:
            if len(ws.cache) > 512:
                ws.cache.clear()
            rows = ws.cache[ck] = sort_rows(ws, build(), order_by)
        if ws.settings["tie_shuffle"]:
            return shuffle_ties(ws, rows, order_by)
        return rows

    @staticmethod
    def ordered(ws, rows, order_by):
        """Sort an uncached list (tie_shuffle aware)."""
        rows = sort_rows(ws, rows, order_by)
        if ws.settings["tie_shuffle"]:
            return shuffle_ties(ws, rows, order_by)
        return rows

    def _project(self, ctx, pid):
        """A project's own detail: 404 when deleted, or secret (network 0) and not a member."""
        pr = ctx.ws.projects.get(pid)
        if pr is None or pr["deleted_at"] is not None:
            raise not_found()
        if ctx.user not in pr["_members"] and pr["network"] != 2:
            raise not_found()
        return pr

    def _scoped(self, ctx, pid):
        """Everything under projects/{pid}/: Plane's ProjectMember permission check comes first, so
        a non-member and a soft-deleted project get 403; an unknown project id 404."""
        pr = ctx.ws.projects.get(pid)
        if pr is None:
            raise not_found()
        if pr["deleted_at"] is not None:
            if ctx.ws.settings["deleted_project_status"] == 404:
                raise not_found()
            raise ApiError(403, NO_PERMISSION)
        if ctx.user not in pr["_members"]:
            raise ApiError(403, NO_PERMISSION)
        return pr

    def _child_rec(self, ctx, typ, pid, oid, visible):
        self._scoped(ctx, pid)
        rec = ctx.ws.children[typ].get(pid, {}).get(oid)
        if rec is None or rec["deleted_at"] is not None or not visible(rec):
            raise not_found()
        return rec

    def _child(self, ctx, typ, pid, oid, visible):
        return 200, render(self._child_rec(ctx, typ, pid, oid, visible), ctx.tz, ctx.fields)

    def _child_list(self, ctx, typ, pid, variant, visible, default_order, order_by=None):
        self._scoped(ctx, pid)
        ws = ctx.ws
        src = ws.children[typ].get(pid, {})
        rows = self.cached(ws, (typ, pid, variant),
                           lambda: [r for r in src.values() if r["deleted_at"] is None and visible(r)],
                           order_by or default_order)
        return rows

    # ------------------------------------------------------------------ endpoints
    def api_me(self, ctx):
        return 200, ctx.ws.user_lite(ctx.user)

    def api_ws_members(self, ctx):
        return 200, [dict(m) for m in ctx.ws.members]

    def api_project_members(self, ctx, pid):
        members = self._scoped(ctx, pid)["_members"]
        return 200, [ctx.ws.user_lite(m["id"]) for m in ctx.ws.members if m["id"] in members]

    def api_projects(self, ctx):
        """The caller's projects and every public (network 2) one, rendered for the caller."""
        ws = ctx.ws
        user = ctx.user
        rows = self.cached(ws, ("project", user, "all"),
                           lambda: [project_view(r, user) for r in ws.projects.values()
                                    if r["deleted_at"] is None
                                    and (user in r["_members"] or r["network"] == 2)],
                           ctx.query.get("order_by") or "sort_order")
        return 200, self.paginate(rows, ctx)

    def api_project(self, ctx, pid):
        return 200, render(project_view(self._project(ctx, pid), ctx.user), ctx.tz, ctx.fields)

    def _item_visible(self, ws, pid):
        triage = ws.triage_states(pid)
        return lambda r: r["archived_at"] is None and not r["is_draft"] and r["state"] not in triage

    def api_items(self, ctx, pid):
        ws = ctx.ws
        pr = self._scoped(ctx, pid)
        q = ctx.query
        if q.get("external_id") and q.get("external_source"):
            for r in ws.children["work_item"].get(pid, {}).values():
                if (r["deleted_at"] is None and r["external_id"] == q["external_id"]
                        and r["external_source"] == q["external_source"]):
                    return 200, render(r, ctx.tz, ctx.fields)
            raise not_found()
        if pr["archived_at"] is not None:
            rows = []
        else:
            rows = self._child_list(ctx, "work_item", pid, "visible", self._item_visible(ws, pid),
                                    "-created_at", q.get("order_by"))
        return 200, self.paginate(rows, ctx)

    def api_item(self, ctx, pid, iid):
        return self._child(ctx, "work_item", pid, iid, self._item_visible(ctx.ws, pid))

    def api_item_by_key(self, ctx, ident, seq):
        ws = ctx.ws
        for pr in ws.projects.values():
            if pr["deleted_at"] is None and pr["identifier"].upper() == ident.upper():
                if ctx.user not in pr["_members"]:
                    raise ApiError(403, NO_PERMISSION)
                rec = ws.by_seq.get((pr["id"], int(seq)))
                if rec is not None and rec["deleted_at"] is None and \
                        self._item_visible(ws, pr["id"])(rec):
                    return 200, render(rec, ctx.tz, ctx.fields)
        raise not_found()

    def _validate_item_fields(self, ctx, pid, body):
        if not isinstance(body, dict):
            raise ApiError(400, {"detail": "Expected a JSON object."})
        errors = {}
        if "priority" in body and body["priority"] not in PRIORITIES:
            errors["priority"] = [f'"{body["priority"]}" is not a valid choice.']
        if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
            errors["name"] = ["This field may not be blank."]
        for k in ("start_date", "target_date"):
            if body.get(k) is not None:
                try:
                    parse_date(body[k])
                except (TypeError, ValueError):
                    errors[k] = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
        for k in ("assignees", "labels"):
            if k in body and not isinstance(body[k], list):
                errors[k] = ['Expected a list of items but got type "%s".' % type(body[k]).__name__]
        if errors:
            raise ApiError(400, errors)
        if "state" in body:
            st = ctx.ws.index.get(body["state"])
            if not st or st[0] != "state" or st[1]["project"] != pid:
                raise ApiError(400, {"error": "State is not valid please pass a valid state_id"})
        fields = {k: body[k] for k in WORK_ITEM_PATCHABLE if k in body}
        for k in ("assignees", "labels"):
            if k in fields:
                fields[k] = list(dict.fromkeys(fields[k]))
        if ctx.ws.settings["trim_writes"]:
            # IssueSerializer.validate: only active project members with role >= 15, and only
            # labels of this project; the rest is dropped silently.
            index = ctx.ws.index
            if "assignees" in fields:
                members = ctx.ws.projects[pid]["_members"]
                fields["assignees"] = [a for a in fields["assignees"]
                                       if isinstance(a, str) and members.get(a, 0) >= 15]
            if "labels" in fields:
                fields["labels"] = [
                    lid for lid in fields["labels"]
                    if isinstance(lid, str) and index.get(lid, ("",))[0] == "label"
                    and index[lid][1]["project"] == pid and index[lid][1]["deleted_at"] is None]
        return fields

    def api_item_patch(self, ctx, pid, iid):
        ws = ctx.ws
        self._child(ctx, "work_item", pid, iid, self._item_visible(ws, pid))
        fields = self._validate_item_fields(ctx, pid, ctx.body)
        rec, deliveries = apply_change(ws, "update", "work_item", iid, pid, fields, ctx.user)
        ws.outbox.extend(deliveries)
        return 200, render(rec, ctx.tz)

    def api_item_create(self, ctx, pid):
        ws = ctx.ws
        self._scoped(ctx, pid)
        if not isinstance(ctx.body, dict) or not ctx.body.get("name"):
            raise ApiError(400, {"name": ["This field is required."]})
        fields = self._validate_item_fields(ctx, pid, ctx.body)
        rec, deliveries = apply_change(ws, "create", "work_item", None, pid, fields, ctx.user)
        ws.outbox.extend(deliveries)
        return 201, render(rec, ctx.tz)

    def api_cycles(self, ctx, pid):
        view = ctx.query.get("cycle_view") or "all"
        now = utcnow()
        preds = {
            "all": lambda r: True,
            "current": lambda r: r["start_date"] is not None and r["end_date"] is not None
            and r["start_date"] <= now <= r["end_date"],
            "upcoming": lambda r: r["start_date"] is not None and r["start_date"] > now,
            "completed": lambda r: r["end_date"] is not None and r["end_date"] < now,
            "draft": lambda r: r["start_date"] is None and r["end_date"] is None,
            "incomplete": lambda r: r["end_date"] is None or r["end_date"] >= now,
        }
        pred = preds.get(view, preds["all"])
        self._scoped(ctx, pid)
        rows = [r for r in ctx.ws.children["cycle"].get(pid, {}).values()
                if r["deleted_at"] is None and r["archived_at"] is None and pred(r)]
        rows = self.ordered(ctx.ws, rows, ctx.query.get("order_by") or "-created_at")
        if view == "current":
            return 200, [render(r, ctx.tz, ctx.fields) for r in rows]
        return 200, self.paginate(rows, ctx)

    def api_archived_cycles(self, ctx, pid):
        rows = self._child_list(ctx, "cycle", pid, "archived", lambda r: r["archived_at"] is not None,
                                "-archived_at", ctx.query.get("order_by"))
        return 200, self.paginate(rows, ctx)

    def api_cycle(self, ctx, pid, cid):
        return self._child(ctx, "cycle", pid, cid, lambda r: True)

    def api_modules(self, ctx, pid):
        rows = self._child_list(ctx, "module", pid, "active", lambda r: r["archived_at"] is None,
                                "-created_at", ctx.query.get("order_by"))
        return 200, self.paginate(rows, ctx)

    def api_archived_modules(self, ctx, pid):
        rows = self._child_list(ctx, "module", pid, "archived", lambda r: r["archived_at"] is not None,
                                "-archived_at", ctx.query.get("order_by"))
        return 200, self.paginate(rows, ctx)

    def api_module(self, ctx, pid, mid):
        return self._child(ctx, "module", pid, mid, lambda r: True)

    def api_states(self, ctx, pid):
        # tie_shuffle models Plane's real order for states and labels: -created_at only.
        rows = self._child_list(ctx, "state", pid, "visible", lambda r: r["group"] != "triage",
                                "-created_at" if ctx.ws.settings["tie_shuffle"] else "sequence")
        return 200, self.paginate(rows, ctx)

    def api_state(self, ctx, pid, sid):
        return self._child(ctx, "state", pid, sid, lambda r: r["group"] != "triage")

    def api_labels(self, ctx, pid):
        rows = self._child_list(ctx, "label", pid, "all", lambda r: True,
                                "-created_at" if ctx.ws.settings["tie_shuffle"] else "sort_order")
        return 200, self.paginate(rows, ctx)

    def api_label(self, ctx, pid, lid):
        return self._child(ctx, "label", pid, lid, lambda r: True)

    def _pages(self, ctx, pid):
        q = ctx.query
        typ = q.get("type") or "all"
        search = (q.get("search") or "").lower()
        preds = {"all": lambda r: r["archived_at"] is None,
                 "public": lambda r: r["archived_at"] is None and r["access"] == 0,
                 "private": lambda r: r["archived_at"] is None and r["access"] == 1,
                 "shared": lambda r: False,
                 "archived": lambda r: r["archived_at"] is not None}
        pred = preds.get(typ, preds["all"])
        rows = [r for r in ctx.ws.children["page"].get(pid, {}).values()
                if r["deleted_at"] is None and pred(r) and search in r["name"].lower()]
        rows = self.ordered(ctx.ws, rows, "-created_at")
        env = self.paginate(rows, ctx, default_pp=20, max_pp=100)
        if not ctx.ws.settings["page_list_content"]:
            # As Plane Cloud's list: no content; the detail GET has it.
            for r in env["results"]:
                r.pop("description_html", None)
        return 200, env

    def api_project_pages(self, ctx, pid):
        self._scoped(ctx, pid)
        return self._pages(ctx, pid)

    def api_ws_pages(self, ctx):
        return self._pages(ctx, None)

    def api_project_page(self, ctx, pid, page_id):
        return self._child(ctx, "page", pid, page_id, lambda r: True)

    def api_ws_page(self, ctx, page_id):
        rec = ctx.ws.children["page"].get(None, {}).get(page_id)
        if rec is None or rec["deleted_at"] is not None:
            raise not_found()
        return 200, render(rec, ctx.tz, ctx.fields)

    def _issue_list(self, ctx, pid, typ, oid, members):
        """cycle-issues / module-issues: the visible work items of one cycle or module."""
        pr = ctx.ws.projects[pid]
        self._child_rec(ctx, typ, pid, oid, lambda r: True)
        ws = ctx.ws
        if pr["archived_at"] is not None:
            rows = []
        else:
            items = ws.children["work_item"].get(pid, {})
            visible = self._item_visible(ws, pid)
            rows = self.cached(ws, (typ + "_issues", oid, "visible"),
                               lambda: [items[i] for i in members.get(oid, ())
                                        if i in items and items[i]["deleted_at"] is None
                                        and visible(items[i])],
                               ctx.query.get("order_by") or "-created_at")
        return 200, self.paginate(rows, ctx)

    def api_cycle_issues(self, ctx, pid, cid):
        self._scoped(ctx, pid)
        return self._issue_list(ctx, pid, "cycle", cid, ctx.ws.cycle_issues)

    def api_module_issues(self, ctx, pid, mid):
        self._scoped(ctx, pid)
        return self._issue_list(ctx, pid, "module", mid, ctx.ws.module_issues)

    def api_item_comments(self, ctx, pid, iid):
        """Comments are not simulated: an existing work item has none."""
        self._child_rec(ctx, "work_item", pid, iid, self._item_visible(ctx.ws, pid))
        return 200, self.paginate([], ctx)

    def api_item_search(self, ctx):
        """IssueSearchEndpoint: name/identifier icontains or sequence id, member projects only."""
        ws, q = ctx.ws, ctx.query
        text = q.get("search") or ""
        if not text:
            return 200, {"issues": []}
        try:
            limit = int(q.get("limit") or 10)
        except ValueError:
            raise ApiError(400, {"detail": "Invalid limit parameter."})
        only = q.get("project_id") if q.get("workspace_search", "false") == "false" else None
        seqs = {int(x) for x in re.findall(r"\b\d+\b", text)}
        low = text.lower()
        out = []
        for pr in ws.projects.values():
            if (pr["deleted_at"] is not None or pr["archived_at"] is not None
                    or ctx.user not in pr["_members"] or (only and pr["id"] != only)):
                continue
            ident_hit = low in pr["identifier"].lower()
            visible = self._item_visible(ws, pr["id"])
            for r in ws.children["work_item"].get(pr["id"], {}).values():
                if len(out) >= limit:
                    return 200, {"issues": out}
                if r["deleted_at"] is None and visible(r) and (
                        ident_hit or r["sequence_id"] in seqs or low in r["name"].lower()):
                    out.append({"name": r["name"], "id": r["id"], "sequence_id": r["sequence_id"],
                                "project__identifier": pr["identifier"], "project_id": pr["id"],
                                "workspace__slug": ws.slug})
        return 200, {"issues": out}

    # ------------------------------------------------------------------ control API
    def control(self, method, path, raw_body, query):
        try:
            body = json.loads(raw_body) if raw_body.strip() else {}
        except ValueError:
            return 400, {"error": "body is not valid JSON"}
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        parts = [p for p in path.split("/") if p][1:]   # drop '_sim'
        route = "/".join(parts[:1])
        try:
            if route == "health":
                return 200, {"ok": True}
            if route == "reset" and method == "POST":
                self.reset()
                return 200, {"ok": True}
            if route == "seed" and method == "POST":
                return 200, self.seed(body)
            if route == "config":
                if method == "POST":
                    return 200, self.configure(body)
                return 200, self.config_doc()
            if route == "faults":
                if method == "POST":
                    return 200, {"faults": self.set_faults(body)}
                return 200, {"faults": self.faults}
            if route == "tokens" and method == "POST":
                return 200, self.add_token(body)
            if route == "state" and method == "GET" and len(parts) == 2:
                return 200, self.state(parts[1])
            if route == "mutate" and method == "POST":
                return self.mutate(body)
            if route == "stats":
                if len(parts) == 2 and parts[1] == "reset" and method == "POST":
                    self.reset_stats()
                    return 200, {"ok": True}
                if len(parts) == 1 and method == "GET":
                    with self.rl_lock:
                        st = dict(self.stats)
                        st["by_path_kind"] = dict(st["by_path_kind"])
                        st["status_counts"] = dict(st["status_counts"])
                    return 200, st
            if route == "requests" and method == "GET":
                with self.rl_lock:
                    return 200, {"requests": list(self.request_log)}
            if route == "webhooks" and len(parts) >= 2:
                with self.lock:
                    ws = self.get_ws(parts[1])
                    if method == "GET":
                        return 200, {"deliveries": list(ws.outbox)}
                    if method in ("POST", "DELETE") and parts[2:] in ([], ["clear"]):
                        n = len(ws.outbox)
                        ws.outbox.clear()
                        return 200, {"cleared": n}
            if route == "oauth":
                return self.oauth_control(method, parts[1:], body)
            if route == "mcp":
                return self.mcp_control(method, parts[1:], body)
            return 404, {"error": f"unknown control endpoint {method} {path}"}
        except ApiError as e:
            return e.status, e.body
        except (TypeError, ValueError, KeyError) as e:
            return 400, {"error": f"{type(e).__name__}: {e}"}

    def config_doc(self):
        with self.lock:
            return {"rate_limit": self.rate_limit, "rate_window": self.rate_window,
                    "pages_enabled": {s: w.pages_enabled for s, w in self.workspaces.items()},
                    "workspaces": {s: dict(w.settings, refuse=dict(w.settings["refuse"]),
                                           pages_enabled=w.pages_enabled, tz=w.tz)
                                   for s, w in self.workspaces.items()}}

    CONFIG_KEYS = {"rate_limit", "rate_window", "reset_buckets", "workspace", "pages_enabled", "tz",
                   "profile", "project", "member", "network", "user", "role"} | set(WS_DEFAULTS)

    @staticmethod
    def _ws_settings(ws, body):
        """The workspace's settings after `profile` and the individual keys of body (validated;
        nothing is applied on an error)."""
        new = dict(ws.settings)
        if "profile" in body:
            prof = WS_PROFILES.get(body["profile"])
            if prof is None:
                raise ApiError(400, {"error": f"profile must be one of {sorted(WS_PROFILES)}"})
            new.update(prof)
        for k in WS_DEFAULTS:
            if k in body:
                new[k] = body[k]
        for k in ("work_items_route", "tie_shuffle", "trim_writes"):
            if not isinstance(new[k], bool):
                raise ApiError(400, {"error": f"{k} must be true or false"})
        refuse = new["refuse"]
        if not isinstance(refuse, dict) or set(refuse) - set(REFUSE_KEYS):
            raise ApiError(400, {"error": f"refuse must be an object with keys from {list(REFUSE_KEYS)}"})
        new["refuse"] = {}
        for k, v in refuse.items():
            if isinstance(v, bool) or not isinstance(v, int) or not 400 <= v <= 599:
                raise ApiError(400, {"error": f"refuse[{k!r}] must be an HTTP status 400-599"})
            new["refuse"][k] = v
        cap = new["page_size_cap"]
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ApiError(400, {"error": "page_size_cap must be an integer >= 1"})
        if new["page_size_mode"] not in ("reject", "clamp"):
            raise ApiError(400, {"error": "page_size_mode must be reject or clamp"})
        if new["v2_shape"] not in ("rest", "cloud"):
            raise ApiError(400, {"error": "v2_shape must be rest or cloud"})
        if new["deleted_project_status"] not in (403, 404):
            raise ApiError(400, {"error": "deleted_project_status must be 403 or 404"})
        return new

    @staticmethod
    def _project_change(ws, body, workspaces=()):
        """{"project": id, "member": bool, "user": id (default owner), "role": n, "network": 0|2}.
        A user of another workspace (one API key used in two workspaces) joins this one first."""
        pr = ws.projects.get(body["project"])
        if pr is None:
            raise ApiError(404, {"error": f"no project {body['project']!r} in workspace {ws.slug!r}"})
        if "member" not in body and "network" not in body:
            raise ApiError(400, {"error": "project needs member and/or network"})
        if "network" in body and body["network"] not in (0, 2):
            raise ApiError(400, {"error": "network must be 0 (secret) or 2 (public)"})
        user = body.get("user") or ws.owner
        if "member" in body:
            if not isinstance(body["member"], bool):
                raise ApiError(400, {"error": "member must be true or false"})
            if user not in ws.users:
                other = next((w for w in workspaces if user in w.users), None)
                if other is None:
                    raise ApiError(400, {"error": f"unknown user {user!r}"})
                ws.users[user] = dict(other.users[user])
                ws.members.append(dict(other.users[user], role=15))
            default_role = next(m["role"] for m in ws.members if m["id"] == user)
            role = body.get("role", default_role)
            if isinstance(role, bool) or not isinstance(role, int):
                raise ApiError(400, {"error": "role must be an integer (5 guest, 15 member, 20 admin)"})

        def apply():
            if "network" in body:
                pr["network"] = body["network"]
            if "member" in body:
                members = dict(pr["_members"])
                if body["member"]:
                    members[user] = role
                else:
                    members.pop(user, None)
                pr["_members"] = {m["id"]: members[m["id"]] for m in ws.members if m["id"] in members}
                pr["total_members"] = len(pr["_members"])
            ws.invalidate()
        return apply

    def configure(self, body):
        unknown = set(body) - self.CONFIG_KEYS
        if unknown:
            raise ApiError(400, {"error": f"unknown config keys {sorted(unknown)}"})
        if set(body) & {"member", "network", "user", "role"} and "project" not in body:
            raise ApiError(400, {"error": "member/network/user/role need workspace and project"})
        ws_keys = set(body) & ({"pages_enabled", "tz", "profile", "project"} | set(WS_DEFAULTS))
        with self.lock:
            if ws_keys or "workspace" in body:
                ws = self.get_ws(body.get("workspace"))
                settings = self._ws_settings(ws, body)
                change = (self._project_change(ws, body, list(self.workspaces.values()))
                          if "project" in body else None)
                if "tz" in body:
                    parse_tz(body["tz"])
        with self.rl_lock:
            if "rate_limit" in body:
                self.rate_limit = max(0, int(body["rate_limit"]))
            if "rate_window" in body:
                w = float(body["rate_window"])
                if w <= 0:
                    raise ApiError(400, {"error": "rate_window must be > 0"})
                self.rate_window = w
            if body.get("reset_buckets"):
                self.buckets.clear()
        with self.lock:
            if ws_keys or "workspace" in body:
                if self.workspaces.get(ws.slug) is not ws:
                    raise ApiError(409, {"error": "the workspace was re-seeded meanwhile"})
                if settings != ws.settings:
                    ws.settings = settings
                    ws.invalidate()
                if change:
                    change()
            if "pages_enabled" in body:
                ws.pages_enabled = bool(body["pages_enabled"])
            if "tz" in body:
                ws.tz = body["tz"]
                for c in self.creds.values():
                    if c["workspace"] == ws.slug:
                        c["tz"] = body["tz"]
        return self.config_doc()

    def add_token(self, body):
        with self.lock:
            ws = self.get_ws(body.get("workspace"))
            tok = str(body.get("token") or ("plane_oauth_" + uuid.uuid4().hex))
            exp = body.get("expires_in")
            tz = body.get("tz") or ws.tz
            parse_tz(tz)
            self.creds[tok] = {"workspace": ws.slug, "tz": tz, "kind": "bearer",
                               "user": body.get("user") or ws.owner,
                               "expires_at": None if exp is None else time.time() + float(exp)}
            return {"token": tok, "workspace": ws.slug,
                    "expires_at": self.creds[tok]["expires_at"]}

    def state(self, slug):
        with self.lock:
            ws = self.get_ws(slug)
            # Projects as the workspace owner (the API key's user) sees them, plus `_members`.
            out = {"projects": [dict(render(project_view(r, ws.owner), UTC), _members=list(r["_members"]))
                                for r in ws.projects.values() if r["deleted_at"] is None]}
            for typ, key in (("work_item", "work_items"), ("cycle", "cycles"), ("module", "modules"),
                             ("state", "states"), ("label", "labels"), ("page", "pages")):
                rows = []
                for recs in ws.children[typ].values():
                    rows.extend(render(r, UTC) for r in recs.values() if r["deleted_at"] is None)
                out[key] = rows
            # Calendar days of each cycle in its project's zone (what a mirror should show).
            by_id = ws.children["cycle"]
            for row in out["cycles"]:
                rec = by_id[row["project"]][row["id"]]
                zone = parse_tz(rec["timezone"] or "UTC")
                for k, dk in (("start_date", "_start_day"), ("end_date", "_end_day")):
                    row[dk] = rec[k].astimezone(zone).date().isoformat() if rec[k] else None
            out["deleted_ids"] = list(ws.deleted_ids)
            return out

    def mutate(self, body):
        with self.lock:
            ws = self.get_ws(body.get("workspace"))
            fields = body.get("fields") or {}
            if not isinstance(fields, dict):
                raise ApiError(400, {"error": "fields must be an object"})
            rec, deliveries = apply_change(ws, body.get("op"), body.get("type", "work_item"),
                                           body.get("id"), body.get("project"), fields,
                                           body.get("actor"))
            obj = render(rec, UTC)
            ws.outbox.extend(deliveries)
        out = {"object": obj, "webhooks": deliveries}
        if body.get("deliver_to"):
            versions = set(body.get("deliver_versions") or ("v1", "v2"))
            out["delivered"] = deliver(body["deliver_to"],
                                       [d for d in deliveries if d["version"] in versions])
        return 200, out


# --------------------------------------------------------------------------- HTTP server

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms) on every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "PlaneSim/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.sim.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if r:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True
        return False

    def dispatch(self, method):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        raw = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        sim = self.server.sim
        path = parts.path
        if path == "/_sim" or path.startswith("/_sim/"):
            status, obj = sim.control(method, path, raw, query)
            self.send(status, json.dumps(obj).encode("utf-8"), {})
        elif path.startswith("/api/"):
            res = sim.handle_api(method, path, self.path, query, self.headers, raw, self.client_gone)
            if res is None:
                self.close_connection = True
                return
            status, data, headers, mode = res
            self.send(status, data, headers, truncate=(mode == "truncate"))
        elif path.startswith("/auth/o/"):
            status, data, headers, ctype = sim.handle_oauth(method, path, query, self.headers, raw)
            self.send(status, data, headers, content_type=ctype)
        elif path in MCP_PATHS:
            res = sim.handle_mcp(method, self.headers, raw, self.client_gone, path)
            if res is None:
                self.close_connection = True
                return
            status, data, headers, ctype = res
            self.send(status, data, headers, content_type=ctype)
        else:
            self.send(404, dumps_api(NOT_FOUND), {})

    def send(self, status, data, headers, truncate=False, content_type="application/json"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[:len(data) // 2] if truncate else data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if truncate:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if self.sim.verbose:
            super().handle_error(request, client_address)


def write_port_file(path, port):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description="Local Plane.so REST API simulator")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--rate-limit", type=int, default=60)
    ap.add_argument("--rate-window", type=float, default=60.0)
    ap.add_argument("--parent-pid", type=int)
    ap.add_argument("--seed-workspace")
    ap.add_argument("--projects", type=int, default=3)
    ap.add_argument("--items", type=int, default=250)
    ap.add_argument("--tz", default="Z")
    ap.add_argument("--api-key")
    ap.add_argument("--webhook-secret")
    ap.add_argument("--pages-enabled", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    sim = Simulator(args.rate_limit, args.rate_window, args.verbose)
    if args.seed_workspace:
        info = sim.seed({"workspace": args.seed_workspace, "projects": args.projects,
                         "items_per_project": args.items, "tz": args.tz, "api_key": args.api_key,
                         "webhook_secret": args.webhook_secret, "seed": args.seed,
                         "pages_enabled": args.pages_enabled})
        sys.stderr.write(f"plane_sim: seeded {info['workspace']} api_key={info['api_key']}\n")

    httpd = Server(("127.0.0.1", args.port), Handler)
    httpd.sim = sim
    port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    sys.stderr.write(f"plane_sim: listening on http://127.0.0.1:{port}\n")
    sys.stderr.flush()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ticks = 0
    while not stop.wait(0.1):
        ticks += 1
        if args.parent_pid and ticks % 10 == 0 and not pid_alive(args.parent_pid):
            sys.stderr.write("plane_sim: parent process gone, exiting\n")
            break
    sim.shutting_down.set()
    httpd.shutdown()
    httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
