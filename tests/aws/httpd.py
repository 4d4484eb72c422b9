#!/usr/bin/env python3
"""A tiny HTTP server for the HTTP client's unit test.

Usage: httpd.py COMMAND [ARGS...]
Starts the server on a free 127.0.0.1 port, runs COMMAND with
KB_TEST_HTTP_URL=http://127.0.0.1:PORT in its environment, and exits with
its status.  With openssl on PATH it also serves the same endpoints over TLS
with a throw-away CA: KB_TEST_HTTPS_URL (certificate for IP 127.0.0.1),
KB_TEST_HTTPS_BADNAME_URL (certificate for example.com only) and
KB_TEST_CA (the CA file).  Endpoints:
  /echo            JSON {"method","path","headers","body"} of the request
  /size/N          N bytes of 'x' with Content-Length
  /chunked/N       N bytes of 'x', chunked (no Content-Length)
  /lie/N           claims Content-Length N, sends 10 bytes, closes
  /status/N        status N, body "status N"
  /redirect        302 to /echo
  /slow/MS         waits MS milliseconds, then 200 "slow"
  /reset           closes the connection without answering
  /headers/N       N extra response headers X-H-i: i
"""
import json
import os
import socket
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        parts = self.path.split("/")
        arg = parts[2] if len(parts) > 2 else ""
        p = parts[1] if len(parts) > 1 else ""
        if p == "echo":
            doc = {"method": self.command, "path": self.path,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body": body.decode("latin-1")}
            self._send(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])
        elif p == "size":
            self._send(200, b"x" * int(arg))
        elif p == "chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            left = int(arg)
            while left > 0:
                c = min(left, 16384)
                self.wfile.write(b"%x\r\n" % c + b"x" * c + b"\r\n")
                left -= c
            self.wfile.write(b"0\r\n\r\n")
        elif p == "lie":
            self.send_response(200)
            self.send_header("Content-Length", arg)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif p == "status":
            self._send(int(arg), b"status " + arg.encode())
        elif p == "redirect":
            self._send(302, b"", [("Location", "/echo")])
        elif p == "slow":
            time.sleep(int(arg) / 1000.0)
            self._send(200, b"slow")
        elif p == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
        elif p == "headers":
            self._send(200, b"h", [("X-H-%d" % i, str(i)) for i in range(int(arg))])
        else:
            self._send(404, b"not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _handle


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients abort transfers on purpose


def tls_servers(d):
    """A CA and two TLS servers (right and wrong name) in directory d."""
    def run(*a):
        subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=kb test CA")
    env = {"KB_TEST_CA": os.path.join(d, "ca.pem")}
    for name, san, var in (("good", "IP:127.0.0.1", "KB_TEST_HTTPS_URL"),
                           ("bad", "DNS:example.com", "KB_TEST_HTTPS_BADNAME_URL")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext")
        srv = Server(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, name + ".pem"), os.path.join(d, name + ".key"))
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        env[var] = "https://127.0.0.1:%d" % srv.server_address[1]
    return env


def main():
    srv = Server(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ, KB_TEST_HTTP_URL="http://127.0.0.1:%d" % srv.server_address[1])
    tmp = tempfile.mkdtemp()
    if shutil.which("openssl"):
        env.update(tls_servers(tmp))
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env.pop(k, None)
    rc = subprocess.call(sys.argv[1:], env=env)
    srv.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
