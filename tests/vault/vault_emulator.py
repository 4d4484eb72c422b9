#!/usr/bin/env python3
"""Vault API emulator for Keybroker's tests.

This is NOT HashiCorp Vault.  It is a small in-memory emulator of the parts
of Vault's documented HTTP API that the broker uses, written from the public
API documentation so that the Vault backend can be tested on machines where
no Vault server can be installed.  Storage is in memory, nothing is
encrypted, there is no audit device: never use it for real secrets.

Emulated (paths below /v1/, JSON bodies, {"errors":[...]} on failure):
  sys/health, sys/seal-status, sys/seal (PUT, sudo), sys/unseal (PUT key),
  sys/namespaces/:name (POST/GET/DELETE),
  sys/leases/revoke-prefix/auth/approle (revokes AppRole login tokens),
  sys/mounts/:path (POST type=kv options.version=2),
  sys/policies/acl/:name (PUT {"policy": <JSON policy text>}, GET, DELETE),
  auth/token/create, auth/token/lookup-self, auth/token/renew-self,
  auth/token/revoke-self,
  auth/approle/role/:name (POST/GET), .../role-id (GET), .../secret-id (POST),
  auth/approle/login,
  <kv mount>/config, data/:path (GET ?version=, POST/PUT with options.cas,
  DELETE), delete/:path, undelete/:path, destroy/:path, metadata/:path (GET,
  POST, PATCH merge, DELETE, LIST or GET ?list=true).
Namespaces: X-Vault-Namespace header or a namespace path prefix; every
namespace has its own mounts, policies, tokens and AppRoles.
Policies use Vault's JSON policy syntax: {"path": {"secret/data/x/*":
{"capabilities": ["read", "create", "update", "delete", "list"]}}}; '*' as
the last character is a prefix glob, '+' matches one path segment.

Test controls (NOT part of Vault's API, below /emulator/):
  POST /emulator/inject {"status": 429|503|500|..., "count": N,
        "path": "<prefix after /v1/>", "methods": ["GET", ...],
        "delay_ms": D, "after": false, "body_bytes": B}
        queue a fault for the next N matching requests: status 0 with
        delay_ms only delays; "reset": true drops the connection without
        answering; "after": true performs the request first and then
        answers with the fault instead (a lost answer); body_bytes answers
        200 with a JSON body of that size
  POST /emulator/reset-faults
  GET  /emulator/log        the requests seen (method, path, namespace,
        status, cas), never tokens or bodies
  POST /emulator/clear-log

Usage: vault_emulator.py --port-file F [--port N] [--root-token T]
       [--unseal-key K] [--mount secret] [--namespace ns1]
       [--tls-cert C --tls-key K] [--token-ttl-max S]
"""

import argparse
import base64
import datetime
import json
import os
import secrets
import socket
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LOCK = threading.RLock()


def now_rfc3339(t=None):
    t = time.time() if t is None else t
    dt = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%06dZ" % dt.microsecond


def parse_duration(v, default=0):
    """Vault accepts seconds as a number or a Go-style duration string."""
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        raise ValueError("bad duration")
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v).strip()
    if s.isdigit():
        return int(s)
    total, num = 0, ""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    for ch in s:
        if ch.isdigit():
            num += ch
        elif ch in units and num:
            total += int(num) * units[ch]
            num = ""
        else:
            raise ValueError("bad duration %r" % v)
    if num:
        raise ValueError("bad duration %r" % v)
    return total


class VaultError(Exception):
    def __init__(self, status, errors, data=None):
        super().__init__(status)
        self.status = status
        self.errors = errors
        self.data = data


def perm_denied():
    return VaultError(403, ["permission denied"])


# ---------------------------------------------------------------- state

class KVSecret:
    def __init__(self):
        t = time.time()
        self.created = t
        self.updated = t
        self.versions = {}  # int -> dict(data, created, deleted, destroyed)
        self.current = 0
        self.oldest = 0
        self.max_versions = 0
        self.cas_required = False
        self.delete_version_after = "0s"
        self.custom_metadata = None


class KVMount:
    def __init__(self):
        self.max_versions = 0
        self.cas_required = False
        self.secrets = {}  # path -> KVSecret


class Namespace:
    def __init__(self, path):
        self.path = path  # "" for root, "ns1/" for children
        self.mounts = {}  # name -> KVMount
        self.policies = {}  # name -> parsed rules list
        self.roles = {}  # role name -> dict
        self.id = uuid.uuid4().hex[:5]


class Token:
    def __init__(self, ns, policies, ttl, max_ttl, renewable, meta=None, display="token"):
        self.id = "hvs." + secrets.token_urlsafe(24)
        self.accessor = secrets.token_urlsafe(18)
        self.ns = ns
        self.policies = sorted(set(policies))
        self.created = time.time()
        self.ttl = ttl  # 0 = no expiry (root)
        self.max_ttl = max_ttl
        self.expire = self.created + ttl if ttl else None
        self.renewable = renewable and ttl > 0
        self.meta = meta
        self.display = display

    def valid(self):
        return self.expire is None or time.time() < self.expire


class State:
    def __init__(self, args):
        self.sealed = False
        self.unseal_key = args.unseal_key
        self.namespaces = {"": Namespace("")}
        self.tokens = {}
        self.mount_names = args.mount or ["secret"]
        self.max_token_ttl = args.token_ttl_max
        for ns in [""] + [n.strip("/") + "/" for n in (args.namespace or [])]:
            self.add_namespace(ns)
        root = Token("", ["root"], 0, 0, False, display="root")
        root.id = args.root_token
        self.tokens[root.id] = root
        self.faults = []
        self.log = []

    def add_namespace(self, path):
        ns = self.namespaces.get(path) or Namespace(path)
        self.namespaces[path] = ns
        for m in self.mount_names:
            ns.mounts.setdefault(m, KVMount())
        return ns


STATE = None


# ---------------------------------------------------------------- policy

def parse_policy(text):
    try:
        doc = json.loads(text)
    except ValueError:
        raise VaultError(400, ["failed to parse policy: the emulator accepts only JSON policy syntax"])
    rules = []
    paths = doc.get("path") if isinstance(doc, dict) else None
    if not isinstance(paths, dict):
        raise VaultError(400, ["failed to parse policy: no 'path' stanza"])
    for pattern, body in paths.items():
        caps = body.get("capabilities") if isinstance(body, dict) else None
        if not isinstance(caps, list):
            raise VaultError(400, ["failed to parse policy: path %r has no capabilities" % pattern])
        rules.append((pattern, set(caps)))
    return rules


def glob_match(pattern, path):
    prefix = pattern.endswith("*")
    pat = pattern[:-1] if prefix else pattern
    pparts = pat.split("/")
    for i, part in enumerate(pparts):
        if part != "+":
            continue
        head = "/".join(pparts[:i])
        rest = pparts[i + 1:]
        # '+' consumes exactly one segment of path
        if head and not path.startswith(head + "/"):
            return False
        tail = path[len(head) + 1:] if head else path
        seg, sep, remain = tail.partition("/")
        if not seg and not sep:
            return False
        return glob_match("/".join(rest) + ("*" if prefix else ""), remain) if rest else (
            prefix or remain == "")
    return path.startswith(pat) if prefix else path == pat


DEFAULT_POLICY = [
    ("auth/token/lookup-self", {"read"}),
    ("auth/token/renew-self", {"update"}),
    ("auth/token/revoke-self", {"update"}),
    ("sys/capabilities-self", {"update"}),
]


def capabilities(token, ns, rel_path):
    if "root" in token.policies:
        return {"root"}
    # Policies of the token's namespace apply to paths relative to it.
    prefix = ns.path[len(token.ns):]
    path = prefix + rel_path
    tns = STATE.namespaces.get(token.ns)
    rules = list(DEFAULT_POLICY)
    for name in token.policies:
        if tns and name in tns.policies:
            rules.extend(tns.policies[name])
    best = None
    for pattern, caps in rules:
        if glob_match(pattern, path):
            # Vault: the most specific (longest) match wins.
            if best is None or len(pattern) > len(best[0]):
                best = (pattern, caps)
    if best is None:
        return set()
    if "deny" in best[1]:
        return set()
    return best[1]


def require(token, ns, path, cap):
    caps = capabilities(token, ns, path)
    if "root" in caps:
        return
    wanted = cap if isinstance(cap, (set, list, tuple)) else {cap}
    if not any(c in caps for c in wanted):
        raise VaultError(403, ["1 error occurred:\n\t* permission denied\n\n"])


# ---------------------------------------------------------------- handler

def envelope(data=None, auth=None, warnings=None):
    return {
        "request_id": str(uuid.uuid4()),
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": warnings,
        "auth": auth,
        "mount_type": "",
    }


def version_meta(s, n):
    v = s.versions[n]
    return {
        "created_time": now_rfc3339(v["created"]),
        "custom_metadata": s.custom_metadata,
        "deletion_time": now_rfc3339(v["deleted"]) if v["deleted"] else "",
        "destroyed": v["destroyed"],
        "version": n,
    }


def auth_block(tok):
    return {
        "client_token": tok.id,
        "accessor": tok.accessor,
        "policies": tok.policies,
        "token_policies": tok.policies,
        "metadata": tok.meta,
        "lease_duration": tok.ttl if tok.expire is None else max(0, int(round(tok.expire - time.time()))),
        "renewable": tok.renewable,
        "entity_id": "",
        "token_type": "service",
        "orphan": True,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vault-emulator/1.0"

    def log_message(self, fmt, *args):  # quiet
        pass

    # -- plumbing
    def _send(self, status, obj=None, headers=None):
        if getattr(self, "lost_answer", None):
            status, obj, headers = self.lost_answer, {"errors": ["emulator: answer replaced by fault"]}, None
            self.lost_answer = None
        body = b"" if obj is None else (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)
        self.status_sent = status

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 32 * 1024 * 1024:
            raise VaultError(413, ["http: request body too large"])
        raw = self.rfile.read(n) if n else b""
        if not raw.strip():
            return {}
        try:
            obj = json.loads(raw)
        except ValueError:
            raise VaultError(400, ["failed to parse JSON input: invalid character"])
        if not isinstance(obj, dict):
            raise VaultError(400, ["failed to parse JSON input: expected an object"])
        return obj

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_LIST(self):
        self._dispatch("LIST")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        self.status_sent = 0
        self.lost_answer = None
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = unquote(url.path)
        entry = {"time": time.time(), "method": method, "path": path,
                 "namespace": self.headers.get("X-Vault-Namespace", "")}
        try:
            if path.startswith("/emulator/"):
                self._control(method, path[len("/emulator/"):])
                return
            if not path.startswith("/v1/"):
                raise VaultError(404, [])
            rel = path[len("/v1/"):]
            if method == "GET" and query.get("list", [""])[0] == "true":
                method = "LIST"
                entry["method"] = "LIST"
            fault = self._take_fault(method, rel)
            if fault is not None:
                if fault.get("delay_ms"):
                    time.sleep(fault["delay_ms"] / 1000.0)
                if fault.get("reset"):
                    entry["status"] = "reset"
                    self._log(entry)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
                st = fault.get("status", 0)
                if fault.get("body_bytes"):
                    pad = "x" * max(0, int(fault["body_bytes"]) - 20)
                    return self._send(200, {"data": {"pad": pad}})
                if st and fault.get("after"):
                    self.lost_answer = st
                    self._api(method, rel, query, entry)
                    return
                if st:
                    if st == 429:
                        err = ['request path "%s": rate limit quota exceeded' % rel]
                        self._send(429, {"errors": err}, {"Retry-After": "1"})
                    elif st == 503:
                        self._send(503, {"errors": ["Vault is sealed"]})
                    else:
                        self._send(st, {"errors": ["emulator: injected error %d" % st]})
                    return
            self._api(method, rel, query, entry)
        except VaultError as e:
            body = {"errors": e.errors}
            if e.data is not None:
                body = envelope(e.data)
                body["errors"] = e.errors
                if not e.errors:
                    del body["errors"]
            self._send(e.status, body)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            self._send(400, {"errors": ["invalid request: %s" % e]})
        finally:
            if "status" not in entry:
                entry["status"] = self.status_sent
                self._log(entry)

    def _log(self, entry):
        with LOCK:
            STATE.log.append(entry)
            del STATE.log[:-5000]

    def _take_fault(self, method, rel):
        with LOCK:
            for f in STATE.faults:
                if f["count"] <= 0:
                    continue
                if not rel.startswith(f.get("path", "")):
                    continue
                if f.get("methods") and method not in f["methods"]:
                    continue
                f["count"] -= 1
                return dict(f)
        return None

    def _control(self, method, what):
        if what == "inject" and method == "POST":
            f = self._body()
            f.setdefault("count", 1)
            with LOCK:
                STATE.faults.append(f)
            self._send(204)
        elif what == "reset-faults" and method == "POST":
            with LOCK:
                STATE.faults.clear()
            self._send(204)
        elif what == "log" and method == "GET":
            with LOCK:
                self._send(200, {"requests": list(STATE.log)})
        elif what == "clear-log" and method == "POST":
            with LOCK:
                STATE.log.clear()
            self._send(204)
        else:
            raise VaultError(404, ["emulator: no such control endpoint"])

    # -- Vault API
    def _namespace(self, rel):
        hdr = (self.headers.get("X-Vault-Namespace") or "").strip("/")
        nspath = hdr + "/" if hdr else ""
        # A namespace may also prefix the path: /v1/ns1/secret/data/x
        parts = rel.split("/")
        i = 0
        while i < len(parts) - 1:
            cur = STATE.namespaces.get(nspath)
            cand = nspath + parts[i] + "/"
            if cur is None or cand not in STATE.namespaces or parts[i] in cur.mounts:
                break
            nspath = cand
            i += 1
        rel = "/".join(parts[i:])
        ns = STATE.namespaces.get(nspath)
        if ns is None:
            raise VaultError(404, ['no handler for route "%s". route entry not found.' % rel])
        return ns, rel

    def _token(self, ns):
        tid = self.headers.get("X-Vault-Token")
        if not tid:
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                tid = auth[len("Bearer "):]
        if not tid:
            raise VaultError(403, ["permission denied"])
        tok = STATE.tokens.get(tid)
        if tok is None or not tok.valid():
            raise VaultError(403, ["permission denied"])
        if not ns.path.startswith(tok.ns):
            raise VaultError(403, ["permission denied"])
        return tok

    def _api(self, method, rel, query, entry):
        with LOCK:
            if rel == "sys/health":
                return self._health(query)
            if rel == "sys/seal-status":
                return self._send(200, self._seal_status())
            if rel == "sys/unseal" and method in ("PUT", "POST"):
                body = self._body()
                if body.get("reset"):
                    return self._send(200, self._seal_status())
                if body.get("key") != STATE.unseal_key:
                    raise VaultError(400, ["Unseal failed, invalid key"])
                STATE.sealed = False
                return self._send(200, self._seal_status())
            if STATE.sealed:
                raise VaultError(503, ["Vault is sealed"])
            ns, rel = self._namespace(rel)
            if rel == "auth/approle/login" and method in ("POST", "PUT"):
                return self._approle_login(ns, self._body())
            tok = self._token(ns)
            body = self._body() if method in ("POST", "PUT", "PATCH") else {}
            if "options" in body and isinstance(body["options"], dict) and "cas" in body["options"]:
                entry["cas"] = body["options"]["cas"]
            if rel == "sys/seal" and method in ("PUT", "POST"):
                require(tok, ns, rel, "sudo")
                STATE.sealed = True
                return self._send(204)
            if rel.startswith("sys/"):
                return self._sys(method, ns, tok, rel[4:], body)
            if rel.startswith("auth/token/"):
                return self._token_api(method, ns, tok, rel[len("auth/token/"):], body)
            if rel.startswith("auth/approle/"):
                return self._approle_admin(method, ns, tok, rel, body)
            mount, _, sub = rel.partition("/")
            if mount in ns.mounts:
                return self._kv(method, ns, tok, mount, ns.mounts[mount], sub, query, body)
            raise VaultError(404, ['no handler for route "%s". route entry not found.' % rel])

    def _seal_status(self):
        return {"type": "shamir", "initialized": True, "sealed": STATE.sealed, "t": 1, "n": 1,
                "progress": 0, "nonce": "", "version": "1.15.0+emulator",
                "build_date": "2026-01-01T00:00:00Z", "migration": False,
                "cluster_name": "vault-emulator", "cluster_id": "emulator",
                "recovery_seal": False, "storage_type": "inmem"}

    def _health(self, query):
        body = {"initialized": True, "sealed": STATE.sealed, "standby": False,
                "performance_standby": False, "replication_performance_mode": "disabled",
                "replication_dr_mode": "disabled", "server_time_utc": int(time.time()),
                "version": "1.15.0+emulator", "cluster_name": "vault-emulator",
                "cluster_id": "emulator"}
        code = 503 if STATE.sealed else 200
        if STATE.sealed and "sealedcode" in query:
            code = int(query["sealedcode"][0])
        if not STATE.sealed and "activecode" in query:
            code = int(query["activecode"][0])
        self._send(code, body)

    def _sys(self, method, ns, tok, rel, body):
        if rel.startswith("namespaces/"):
            name = rel[len("namespaces/"):].strip("/")
            require(tok, ns, "sys/" + rel, {"create", "update", "read", "delete"})
            full = ns.path + name + "/"
            if method in ("POST", "PUT"):
                STATE.add_namespace(full)
                return self._send(200, envelope({"path": full, "id": STATE.namespaces[full].id,
                                                 "custom_metadata": {}}))
            if method == "GET":
                if full not in STATE.namespaces:
                    raise VaultError(404, [])
                return self._send(200, envelope({"path": full, "id": STATE.namespaces[full].id}))
            if method == "DELETE":
                STATE.namespaces.pop(full, None)
                return self._send(204)
        if rel.startswith("leases/revoke-prefix/") and method in ("POST", "PUT"):
            require(tok, ns, "sys/" + rel, "sudo")
            prefix = rel[len("leases/revoke-prefix/"):]
            for tid, t in list(STATE.tokens.items()):
                if t.ns == ns.path and t.display == "approle" and "auth/approle/login".startswith(prefix.rstrip("/")):
                    del STATE.tokens[tid]
            return self._send(204)
        if rel.startswith("mounts/") and method in ("POST", "PUT"):
            require(tok, ns, "sys/" + rel, {"create", "update", "sudo"})
            name = rel[len("mounts/"):].strip("/")
            opts = body.get("options") or {}
            if body.get("type") not in ("kv", "kv-v2") or (
                    body.get("type") == "kv" and str(opts.get("version")) != "2"):
                raise VaultError(400, ["emulator: only kv version 2 mounts are emulated"])
            if name in ns.mounts:
                raise VaultError(400, ['path is already in use at %s/' % name])
            ns.mounts[name] = KVMount()
            return self._send(204)
        if rel.startswith("policies/acl/") or rel.startswith("policy/"):
            name = rel.split("/")[-1]
            if method in ("PUT", "POST"):
                require(tok, ns, "sys/" + rel, {"create", "update"})
                ns.policies[name] = parse_policy(body.get("policy") or body.get("rules") or "")
                return self._send(204)
            if method == "GET":
                require(tok, ns, "sys/" + rel, "read")
                if name not in ns.policies:
                    raise VaultError(404, [])
                return self._send(200, envelope({"name": name}))
            if method == "DELETE":
                require(tok, ns, "sys/" + rel, "delete")
                ns.policies.pop(name, None)
                return self._send(204)
        raise VaultError(404, ['no handler for route "sys/%s". route entry not found.' % rel])

    def _token_api(self, method, ns, tok, rel, body):
        if rel == "lookup-self" and method == "GET":
            require(tok, ns, "auth/token/lookup-self", "read")
            ttl = 0 if tok.expire is None else max(0, int(tok.expire - time.time()))
            return self._send(200, envelope({
                "accessor": tok.accessor, "creation_time": int(tok.created),
                "creation_ttl": tok.ttl, "display_name": tok.display, "entity_id": "",
                "expire_time": now_rfc3339(tok.expire) if tok.expire else None,
                "explicit_max_ttl": tok.max_ttl, "id": tok.id, "issue_time": now_rfc3339(tok.created),
                "meta": tok.meta, "num_uses": 0, "orphan": True, "path": "auth/token/create",
                "policies": tok.policies, "renewable": tok.renewable, "ttl": ttl,
                "type": "service", "namespace_path": tok.ns}))
        if rel == "renew-self" and method in ("POST", "PUT"):
            require(tok, ns, "auth/token/renew-self", "update")
            if not tok.renewable:
                raise VaultError(400, ["lease is not renewable"])
            inc = parse_duration(body.get("increment"), tok.ttl)
            t = time.time()
            new_exp = t + inc
            warnings = None
            if tok.max_ttl and tok.created + tok.max_ttl < new_exp:
                new_exp = tok.created + tok.max_ttl
                warnings = ["TTL of \"%ds\" exceeded the effective max_ttl of \"%ds\"; TTL value is capped accordingly"
                            % (inc, int(new_exp - t))]
            tok.expire = new_exp
            return self._send(200, envelope(None, auth_block(tok), warnings))
        if rel == "revoke-self" and method in ("POST", "PUT"):
            require(tok, ns, "auth/token/revoke-self", "update")
            STATE.tokens.pop(tok.id, None)
            return self._send(204)
        if rel == "create" and method in ("POST", "PUT"):
            require(tok, ns, "auth/token/create", {"create", "update"})
            policies = body.get("policies") or tok.policies
            if "root" in policies and "root" not in tok.policies:
                raise VaultError(400, ["root tokens may not be created without parent token being root"])
            ttl = parse_duration(body.get("ttl"), 768 * 3600)
            max_ttl = parse_duration(body.get("explicit_max_ttl"), STATE.max_token_ttl)
            if max_ttl:
                ttl = min(ttl, max_ttl) if ttl else max_ttl
            if "root" not in policies and not body.get("no_default_policy"):
                policies = ["default"] + list(policies)
            new = Token(ns.path, policies, ttl, max_ttl, body.get("renewable", True),
                        body.get("meta"), body.get("display_name", "token"))
            if "root" in policies and not body.get("ttl"):
                new = Token(ns.path, policies, 0, 0, False, None, "root")
            if body.get("id"):
                new.id = body["id"]
            STATE.tokens[new.id] = new
            return self._send(200, envelope(None, auth_block(new)))
        raise VaultError(404, ['no handler for route "auth/token/%s". route entry not found.' % rel])

    def _approle_admin(self, method, ns, tok, rel, body):
        parts = rel.split("/")
        if len(parts) < 4 or parts[2] != "role":
            raise VaultError(404, ['no handler for route "%s". route entry not found.' % rel])
        name = parts[3]
        sub = "/".join(parts[4:])
        if sub == "" and method in ("POST", "PUT"):
            require(tok, ns, rel, {"create", "update"})
            role = ns.roles.setdefault(name, {"role_id": str(uuid.uuid4()), "secret_ids": {}})
            role["policies"] = body.get("token_policies") or body.get("policies") or []
            role["ttl"] = parse_duration(body.get("token_ttl"), 3600)
            role["max_ttl"] = parse_duration(body.get("token_max_ttl"), 0)
            if body.get("role_id"):
                role["role_id"] = body["role_id"]
            return self._send(204)
        role = ns.roles.get(name)
        if role is None:
            raise VaultError(404, ['role "%s" does not exist' % name] if sub else [])
        if sub == "" and method == "GET":
            require(tok, ns, rel, "read")
            return self._send(200, envelope({"token_policies": role["policies"],
                                             "token_ttl": role["ttl"], "token_max_ttl": role["max_ttl"],
                                             "bind_secret_id": True}))
        if sub == "role-id" and method == "GET":
            require(tok, ns, rel, "read")
            return self._send(200, envelope({"role_id": role["role_id"]}))
        if sub == "secret-id" and method in ("POST", "PUT"):
            require(tok, ns, rel, {"create", "update"})
            sid = str(uuid.uuid4())
            acc = str(uuid.uuid4())
            role["secret_ids"][sid] = acc
            return self._send(200, envelope({"secret_id": sid, "secret_id_accessor": acc,
                                             "secret_id_ttl": 0, "secret_id_num_uses": 0}))
        raise VaultError(404, ['no handler for route "%s". route entry not found.' % rel])

    def _approle_login(self, ns, body):
        rid, sid = body.get("role_id"), body.get("secret_id")
        if not rid:
            raise VaultError(400, ["missing role_id"])
        for name, role in ns.roles.items():
            if role["role_id"] == rid:
                if not sid:
                    raise VaultError(400, ["missing secret_id"])
                if sid not in role["secret_ids"]:
                    raise VaultError(400, ["invalid role or secret ID"])
                tok = Token(ns.path, ["default"] + role["policies"], role["ttl"], role["max_ttl"], True,
                            {"role_name": name}, "approle")
                STATE.tokens[tok.id] = tok
                out = envelope(None, auth_block(tok))
                return self._send(200, out)
        raise VaultError(400, ["invalid role or secret ID"])

    # -- KV version 2
    def _kv(self, method, ns, tok, mname, mount, sub, query, body):
        op, _, path = sub.partition("/")
        full = mname + "/" + sub
        if op == "config":
            if method == "GET":
                require(tok, ns, full, "read")
                return self._send(200, envelope({"max_versions": mount.max_versions,
                                                 "cas_required": mount.cas_required,
                                                 "delete_version_after": "0s"}))
            if method in ("POST", "PUT"):
                require(tok, ns, full, {"create", "update"})
                if "max_versions" in body:
                    mount.max_versions = int(body["max_versions"])
                if "cas_required" in body:
                    mount.cas_required = bool(body["cas_required"])
                return self._send(204)
        if op == "metadata" and method == "LIST":
            require(tok, ns, full, "list")
            return self._kv_list(mount, path)
        if not path or path.endswith("/") or "//" in path:
            raise VaultError(404, ['no handler for route "%s". route entry not found.' % full])
        s = mount.secrets.get(path)
        if op == "data":
            if method == "GET":
                require(tok, ns, full, "read")
                return self._kv_read(s, query)
            if method in ("POST", "PUT"):
                require(tok, ns, full, "update" if s else "create")
                return self._kv_write(mount, path, s, body)
            if method == "DELETE":
                require(tok, ns, full, "delete")
                if s and s.current in s.versions and not s.versions[s.current]["deleted"]:
                    s.versions[s.current]["deleted"] = time.time()
                return self._send(204)
        if op in ("delete", "undelete", "destroy") and method in ("POST", "PUT"):
            require(tok, ns, full, "update")
            vers = body.get("versions")
            if not isinstance(vers, list) or not vers:
                raise VaultError(400, ["no version number provided"])
            for v in vers:
                v = int(v)
                if s and v in s.versions:
                    rec = s.versions[v]
                    if op == "delete" and not rec["deleted"]:
                        rec["deleted"] = time.time()
                    elif op == "undelete" and not rec["destroyed"]:
                        rec["deleted"] = None
                    elif op == "destroy":
                        rec["destroyed"] = True
                        rec["data"] = None
            return self._send(204)
        if op == "metadata":
            if method == "GET":
                require(tok, ns, full, "read")
                if s is None:
                    raise VaultError(404, [])
                return self._send(200, envelope(self._kv_meta(s)))
            if method in ("POST", "PUT", "PATCH"):
                require(tok, ns, full, ("patch" if method == "PATCH" else "update") if s else "create")
                if s is None:
                    if method == "PATCH":
                        raise VaultError(404, [])
                    s = mount.secrets[path] = KVSecret()
                self._kv_meta_write(s, body, method == "PATCH")
                return self._send(204)
            if method == "DELETE":
                require(tok, ns, full, "delete")
                mount.secrets.pop(path, None)
                return self._send(204)
        raise VaultError(405, ["unsupported operation"])

    def _kv_read(self, s, query):
        if s is None or not s.versions:
            raise VaultError(404, [])
        n = s.current
        if "version" in query:
            n = int(query["version"][0]) or s.current
        if n not in s.versions:
            raise VaultError(404, [])
        v = s.versions[n]
        out = {"data": v["data"], "metadata": version_meta(s, n)}
        if v["deleted"] or v["destroyed"]:
            out["data"] = None
            raise VaultError(404, [], out)
        return self._send(200, envelope(out))

    def _kv_write(self, mount, path, s, body):
        data = body.get("data")
        if not isinstance(data, dict):
            raise VaultError(400, ["no data provided"])
        opts = body.get("options") or {}
        cas = opts.get("cas")
        cas_required = mount.cas_required or (s is not None and s.cas_required)
        if cas is None and cas_required:
            raise VaultError(400, ["check-and-set parameter required for this call"])
        if cas is not None:
            if isinstance(cas, bool) or not isinstance(cas, (int, float)) or cas < 0:
                raise VaultError(400, ["invalid cas parameter"])
            if int(cas) != (s.current if s else 0):
                raise VaultError(400, ["check-and-set parameter did not match the current version"])
        if s is None:
            s = mount.secrets[path] = KVSecret()
        n = s.current + 1
        t = time.time()
        s.versions[n] = {"data": data, "created": t, "deleted": None, "destroyed": False}
        s.current = n
        s.updated = t
        if s.oldest == 0:
            s.oldest = 1
        keep = s.max_versions or mount.max_versions or 10
        while len(s.versions) > keep:
            oldest = min(s.versions)
            del s.versions[oldest]
            s.oldest = min(s.versions)
        meta = version_meta(s, n)
        return self._send(200, envelope(meta))

    def _kv_meta(self, s):
        return {
            "cas_required": s.cas_required,
            "created_time": now_rfc3339(s.created),
            "current_version": s.current,
            "custom_metadata": s.custom_metadata,
            "delete_version_after": s.delete_version_after,
            "max_versions": s.max_versions,
            "oldest_version": s.oldest,
            "updated_time": now_rfc3339(s.updated),
            "versions": {str(n): {"created_time": now_rfc3339(v["created"]),
                                  "deletion_time": now_rfc3339(v["deleted"]) if v["deleted"] else "",
                                  "destroyed": v["destroyed"]}
                         for n, v in sorted(s.versions.items())},
        }

    def _kv_meta_write(self, s, body, patch):
        if "max_versions" in body:
            s.max_versions = int(body["max_versions"])
        if "cas_required" in body:
            s.cas_required = bool(body["cas_required"])
        if "delete_version_after" in body:
            s.delete_version_after = str(body["delete_version_after"])
        if "custom_metadata" in body:
            cm = body["custom_metadata"]
            if cm is not None and not isinstance(cm, dict):
                raise VaultError(400, ["custom_metadata must be a map of strings"])
            cm = dict(cm or {})
            if patch:
                merged = dict(s.custom_metadata or {})
                for k, v in cm.items():
                    if v is None:
                        merged.pop(k, None)
                    else:
                        merged[k] = v
                cm = merged
            errs = []
            if len(cm) > 64:
                errs.append("payload must contain at most 64 keys, %d provided" % len(cm))
            for k, v in cm.items():
                if not isinstance(v, str):
                    errs.append("custom_metadata values must be strings")
                elif len(k) > 128:
                    errs.append("length of key %q is %d but max is 128" % (k, len(k)))
                elif len(v) > 512:
                    errs.append("length of value for key %q is %d but max is 512" % (k, len(v)))
            if errs:
                raise VaultError(400, ["1 error occurred:\n\t* " + errs[0] + "\n\n"])
            s.custom_metadata = cm
        s.updated = time.time()

    def _kv_list(self, mount, prefix):
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        keys = set()
        for p in mount.secrets:
            if p.startswith(prefix):
                rest = p[len(prefix):]
                head, sep, _ = rest.partition("/")
                keys.add(head + sep)
        if not keys:
            raise VaultError(404, [])
        return self._send(200, envelope({"keys": sorted(keys)}))


def main():
    global STATE
    ap = argparse.ArgumentParser(description="Vault HTTP API emulator (tests only; not Vault)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True, help="written with the port once listening")
    ap.add_argument("--root-token", default="root")
    ap.add_argument("--unseal-key", default=base64.b64encode(os.urandom(32)).decode())
    ap.add_argument("--mount", action="append", help="kv-v2 mount (default: secret)")
    ap.add_argument("--namespace", action="append", help="create this namespace")
    ap.add_argument("--token-ttl-max", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    STATE = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
