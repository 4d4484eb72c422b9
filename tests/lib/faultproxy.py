#!/usr/bin/env python3
"""faultproxy: a fault-injecting HTTP reverse proxy for backend tests.

Sits between a client (the broker) and a backend (moto_server, the Vault
emulator): point the client at the proxy and the proxy at the backend.

Command line:
  faultproxy.py --upstream URL [--listen HOST:PORT] [--port-file FILE]
                [--plan PLAN] [--upstream-cafile FILE]

  --upstream URL      backend base URL (http:// or https://), e.g. http://127.0.0.1:5000
  --listen HOST:PORT  where to listen (default 127.0.0.1:0, a free port)
  --port-file FILE    write the chosen port there once listening (then
                      wait for the file to appear before starting the client)
  --plan PLAN         initial fault plan (default: empty, everything passes)

The proxy runs until killed (SIGTERM).  Requests are forwarded as they came
(method, path, headers including Host, body), so SigV4 signatures made for
the proxy's address stay valid; every response is sent with
"Connection: close".

Fault plan: comma-separated rules  [MATCH=]ACTION[*COUNT]
  MATCH   substring of "METHOD PATH TARGET" (TARGET: the X-Amz-Target header,
          e.g. "secretsmanager.PutSecretValue"); empty matches everything.
  COUNT   how many matching requests the rule applies to (default 1; 0 means
          every matching request, for ever).
  ACTION  pass             forward unchanged
          500, 503, ...    answer that HTTP status without forwarding
                           (JSON body {"__type":"InternalFailure", ...} /
                           {"errors":["..."]})
          throttle         answer 400 {"__type":"ThrottlingException"} (AWS)
          429              answer 429 (Vault's rate limit answer)
          delay:MS         wait MS milliseconds, then forward
          delay-after:MS   forward, then wait MS milliseconds before answering
          reset            reset the connection (TCP RST) without forwarding
          reset-after      forward, then reset the connection: the backend did
                           the work but the client never hears of it
          hang             never answer (until the client gives up)
For each request the first rule that still has a count left and matches is
used (and its count decremented); when none matches, the request passes.
Examples:
  --plan '503*2'                          two 503s, then normal service
  --plan 'PutSecretValue=reset-after'     the first PutSecretValue is done
                                          upstream but its answer is lost
  --plan 'throttle*0'                     throttle everything

Control API (on the proxy's own port, never forwarded):
  POST /__faultproxy/plan    body = PLAN; replaces the rules
  POST /__faultproxy/reset   clears rules and log
  GET  /__faultproxy/log     JSON list of {"request": "...", "action": "..."}
"""
import argparse
import http.client
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
       "upgrade", "proxy-authorization", "proxy-authenticate"}


class Rule:
    def __init__(self, text):
        text = text.strip()
        self.count = 1
        if "*" in text:
            text, c = text.rsplit("*", 1)
            self.count = int(c)
        self.match = ""
        if "=" in text:
            self.match, text = text.split("=", 1)
        self.action = text
        self.forever = self.count == 0
        parse_action(self.action)  # validate

    def take(self, desc):
        if (self.forever or self.count > 0) and self.match in desc:
            if not self.forever:
                self.count -= 1
            return True
        return False


def parse_action(a):
    if a in ("pass", "throttle", "reset", "reset-after", "hang"):
        return a, None
    if a.startswith("delay:") or a.startswith("delay-after:"):
        kind, ms = a.split(":", 1)
        return kind, int(ms)
    if a.isdigit() and 100 <= int(a) <= 599:
        return "status", int(a)
    raise ValueError("unknown fault action: " + a)


def parse_plan(text):
    return [Rule(r) for r in text.split(",") if r.strip()]


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.log = []

    def pick(self, desc):
        with self.lock:
            for r in self.rules:
                if r.take(desc):
                    self.log.append({"request": desc, "action": r.action})
                    return r.action
            self.log.append({"request": desc, "action": "pass"})
            return "pass"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, code, body, ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    def _reset(self):
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def _control(self, body):
        st = self.server.state
        if self.path == "/__faultproxy/plan" and self.command == "POST":
            try:
                rules = parse_plan(body.decode())
            except ValueError as e:
                return self._reply(400, json.dumps({"error": str(e)}).encode())
            with st.lock:
                st.rules = rules
            return self._reply(200, b"{}")
        if self.path == "/__faultproxy/reset" and self.command == "POST":
            with st.lock:
                st.rules = []
                st.log = []
            return self._reply(200, b"{}")
        if self.path == "/__faultproxy/log":
            with st.lock:
                doc = json.dumps(st.log).encode()
            return self._reply(200, doc)
        return self._reply(404, b'{"error":"unknown control path"}')

    def _forward(self, body):
        up = self.server.upstream
        if up.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.server.cafile)
            conn = http.client.HTTPSConnection(up.hostname, up.port or 443, timeout=60, context=ctx)
        else:
            conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=60)
        headers = {}
        for k, v in self.headers.items():
            if k.lower() not in HOP:
                headers[k] = v
        path = up.path.rstrip("/") + self.path
        conn.request(self.command, path, body=body if body or self.command in ("POST", "PUT") else None,
                     headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out = [(k, v) for k, v in resp.getheaders()
               if k.lower() not in HOP and k.lower() not in ("content-length", "content-type")]
        ctype = resp.getheader("Content-Type", "application/octet-stream")
        conn.close()
        return resp.status, ctype, out, data

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/__faultproxy/"):
            return self._control(body)
        target = self.headers.get("X-Amz-Target", "")
        desc = "%s %s %s" % (self.command, self.path, target)
        kind, arg = parse_action(self.server.state.pick(desc))
        if kind == "status":
            msg = "injected HTTP %d" % arg
            doc = {"__type": "InternalFailure" if arg >= 500 else "InjectedFault",
                   "message": msg, "errors": [msg]}
            return self._reply(arg, json.dumps(doc).encode(), "application/x-amz-json-1.1")
        if kind == "throttle":
            doc = {"__type": "ThrottlingException", "message": "Rate exceeded (injected)"}
            return self._reply(400, json.dumps(doc).encode(), "application/x-amz-json-1.1")
        if kind == "reset":
            return self._reset()
        if kind == "hang":
            try:
                while self.connection.recv(1):
                    pass
            except OSError:
                pass
            self.close_connection = True
            return
        if kind == "delay":
            time.sleep(arg / 1000.0)
        try:
            status, ctype, headers, data = self._forward(body)
        except OSError as e:
            return self._reply(502, json.dumps({"__type": "BadGateway", "message": str(e)}).encode())
        if kind == "reset-after":
            return self._reset()
        if kind == "delay-after":
            time.sleep(arg / 1000.0)
        try:
            self._reply(status, data, ctype, headers)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients give up on purpose (timeouts, resets)


def main():
    ap = argparse.ArgumentParser(description="fault-injecting HTTP reverse proxy")
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--plan", default="")
    ap.add_argument("--upstream-cafile")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    srv.upstream = urllib.parse.urlsplit(a.upstream)
    srv.cafile = a.upstream_cafile
    srv.state = State()
    try:
        srv.state.rules = parse_plan(a.plan)
    except ValueError as e:
        sys.exit("faultproxy: %s" % e)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
