#!/usr/bin/env python3
"""A small emulator of the EC2 instance metadata service (IMDSv2 only),
for the credential chain tests.

Usage: imds.py --port-file FILE --akid ID --secret KEY [--token T]
               [--role NAME] [--expires-in SECONDS] [--no-role]
  PUT /latest/api/token                  needs X-aws-ec2-metadata-token-ttl-seconds
                                         (1..21600); returns a session token
  GET /latest/meta-data/iam/security-credentials/        role name
  GET /latest/meta-data/iam/security-credentials/ROLE    credentials JSON
                                         (Expiration = now + expires-in)
  GET /__imds/stats                      {"token": n, "role": n, "creds": n, "rejected": n}
GETs without a valid session token get 401, as on EC2 with IMDSv2 required.
"""
import argparse
import datetime
import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/latest/meta-data/iam/security-credentials/"


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body, ctype="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _count(self, k):
        with self.server.lock:
            self.server.stats[k] += 1

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if self.path != "/latest/api/token":
            return self._send(404, "not found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            self._count("rejected")
            return self._send(400, "missing or bad X-aws-ec2-metadata-token-ttl-seconds")
        tok = secrets.token_urlsafe(32)
        with self.server.lock:
            self.server.tokens.add(tok)
        self._count("token")
        self._send(200, tok)

    def do_GET(self):
        a = self.server.args
        if self.path == "/__imds/stats":
            with self.server.lock:
                return self._send(200, json.dumps(self.server.stats), "application/json")
        tok = self.headers.get("X-aws-ec2-metadata-token", "")
        with self.server.lock:
            ok = tok in self.server.tokens
        if not ok:
            self._count("rejected")
            return self._send(401, "")
        if self.path == PREFIX:
            self._count("role")
            if a.no_role:
                return self._send(404, "not found")
            return self._send(200, a.role)
        if self.path == PREFIX + a.role:
            self._count("creds")
            exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=a.expires_in)
            doc = {"Code": "Success", "LastUpdated": datetime.datetime.now(datetime.timezone.utc)
                   .strftime("%Y-%m-%dT%H:%M:%SZ"), "Type": "AWS-HMAC", "AccessKeyId": a.akid,
                   "SecretAccessKey": a.secret, "Token": a.token,
                   "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}
            return self._send(200, json.dumps(doc, indent=2), "text/plain")
        self._send(404, "not found")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--akid", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token", default="IQoJb3JpZ2luX2VjEIMDS-test-session-token")
    ap.add_argument("--role", default="keybroker-instance-role")
    ap.add_argument("--expires-in", type=int, default=6 * 3600)
    ap.add_argument("--no-role", action="store_true")
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    srv.args = a
    srv.lock = threading.Lock()
    srv.tokens = set()
    srv.stats = {"token": 0, "role": 0, "creds": 0, "rejected": 0}
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
