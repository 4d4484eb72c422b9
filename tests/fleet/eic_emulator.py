#!/usr/bin/env python3
"""Emulator of EC2 Instance Connect for tests: the SendSSHPublicKey API
(JSON 1.1, X-Amz-Target AWSEC2InstanceConnectService.SendSSHPublicKey) and
the instance metadata service (IMDSv2) with managed-ssh-keys, as the real
service lays them out: signer-cert (PEM chain), signer-ocsp/ (staples by
SHA-1 fingerprint, base64 DER), active-keys/USER/ (signed entries).

Entries are signed like AWS's: RSA-PSS SHA-256 salt 32 over the '#' lines
and the key line.  The PKI comes from tests/fleet/eic_ca.sh.

Test controls (POST JSON to /_emu/config): clock_offset (seconds added to
the emulator's clock when stamping entries), lifetime (seconds, default 60),
keep_expired (serve entries past their Timestamp, so the host side's own
check is what refuses them), throttle (the next N pushes get
ThrottlingException), tamper (the next pushes get a corrupted signature),
ocsp_dir (serve staples from another directory), chain (serve another
PEM chain file), delay_ms (each push answers after this long).  GET
/_emu/pushes lists the pushes received; GET /_emu/stats gives
max_inflight, the most pushes handled at the same moment since the last
reset.  POST /_emu/reset forgets all keys.
"""
import argparse
import base64
import hashlib
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

LOCK = threading.Lock()
STATE = {
    "clock_offset": 0, "lifetime": 60, "keep_expired": False, "throttle": 0, "tamper": 0,
    "keys": {},        # user -> [(expiry, text)]
    "pushes": [],      # [{"instance", "user", "key", "time"}]
    "tokens": {},      # token -> expiry
    "delay_ms": 0, "inflight": 0, "max_inflight": 0,
}
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$")
KEY_RE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( .*)?$")


def now():
    return time.time() + STATE["clock_offset"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "eic-emulator"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("eic-emulator: " + (fmt % args) + "\n")

    def reply(self, code, body, ctype="text/plain"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def aws_error(self, code, typ, msg):
        self.reply(code, json.dumps({"__type": typ, "message": msg}), "application/x-amz-json-1.1")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # IMDSv2 session tokens.
    def do_PUT(self):
        self.body()
        if self.path != "/latest/api/token":
            return self.reply(404, "Not Found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, "Bad Request")
        token = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode().rstrip("=")
        with LOCK:
            STATE["tokens"][token] = time.time() + int(ttl)
        self.reply(200, token)

    def token_ok(self):
        t = self.headers.get("X-aws-ec2-metadata-token")
        with LOCK:
            return t is not None and STATE["tokens"].get(t, 0) > time.time()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.path == "/_emu/pushes":
            with LOCK:
                return self.reply(200, json.dumps(STATE["pushes"]), "application/json")
        if self.path == "/_emu/stats":
            with LOCK:
                return self.reply(200, json.dumps({"max_inflight": STATE["max_inflight"]}), "application/json")
        if not self.path.startswith("/latest/meta-data/"):
            return self.reply(404, "Not Found")
        # IMDSv2 only: no token, no answer (as with HttpTokens=required).
        if not self.token_ok():
            return self.reply(401, "Unauthorized")
        p = self.path[len("/latest/meta-data/"):]
        cfg = self.server.cfg
        if p.rstrip("/") == "instance-id":
            return self.reply(200, cfg.instance_id[0])
        if p.rstrip("/") == "placement/availability-zone":
            return self.reply(200, cfg.az)
        if p.rstrip("/") == "services/domain":
            return self.reply(200, cfg.domain)
        if p.rstrip("/") == "managed-ssh-keys/signer-cert":
            return self.reply(200, open(STATE.get("chain") or cfg.ca_dir + "/chain.pem").read())
        ocsp_dir = STATE.get("ocsp_dir") or cfg.ca_dir + "/ocsp"
        if p == "managed-ssh-keys/signer-ocsp/" or p == "managed-ssh-keys/signer-ocsp":
            import os
            return self.reply(200, "\n".join(sorted(os.listdir(ocsp_dir))))
        m = re.match(r"^managed-ssh-keys/signer-ocsp/([0-9A-Fa-f]{40})$", p)
        if m:
            try:
                der = open(ocsp_dir + "/" + m.group(1), "rb").read()
            except OSError:
                return self.reply(404, "Not Found")
            return self.reply(200, base64.b64encode(der))
        m = re.match(r"^managed-ssh-keys/active-keys/([^/]+)/?$", p)
        if m:
            with LOCK:
                t = now()
                entries = [txt for (exp, txt) in STATE["keys"].get(m.group(1), [])
                           if STATE["keep_expired"] or exp > t]
            if not entries:
                return self.reply(404, "Not Found")
            return self.reply(200, "\n".join(entries))
        return self.reply(404, "Not Found")

    def do_POST(self):
        raw = self.body()
        if self.path == "/_emu/config":
            with LOCK:
                STATE.update(json.loads(raw or b"{}"))
            return self.reply(200, "ok")
        if self.path == "/_emu/reset":
            with LOCK:
                STATE["keys"].clear()
                STATE["pushes"].clear()
                STATE["max_inflight"] = 0
            return self.reply(200, "ok")
        if self.path == "/_emu/entry":
            # A raw entry for a user, stored as given (for malformed-input tests).
            d = json.loads(raw)
            with LOCK:
                STATE["keys"].setdefault(d["user"], []).append((d.get("expiry", now() + 60), d["text"]))
            return self.reply(200, "ok")
        target = self.headers.get("X-Amz-Target", "")
        if target != "AWSEC2InstanceConnectService.SendSSHPublicKey":
            return self.aws_error(400, "UnknownOperationException", "unknown operation")
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 Credential=") or "/ec2-instance-connect/aws4_request" not in auth:
            return self.aws_error(403, "MissingAuthenticationTokenException", "request is not SigV4-signed")
        try:
            req = json.loads(raw)
            inst, user, key = req["InstanceId"], req["InstanceOSUser"], req["SSHPublicKey"]
        except (ValueError, KeyError, TypeError):
            return self.aws_error(400, "SerializationException", "bad request body")
        with LOCK:
            STATE["inflight"] += 1
            STATE["max_inflight"] = max(STATE["max_inflight"], STATE["inflight"])
            delay = STATE["delay_ms"] / 1000.0
        try:
            if delay:
                time.sleep(delay)
            code, typ, answer = self.send_key(inst, user, key, req)
        finally:
            # Out of flight before the answer leaves, or the client's next
            # request could be counted while this one still is.
            with LOCK:
                STATE["inflight"] -= 1
        if code != 200:
            return self.aws_error(code, typ, answer)
        self.reply(200, answer, "application/x-amz-json-1.1")

    def send_key(self, inst, user, key, req):
        """(200, None, JSON answer) or (status, AWS error type, message)."""
        cfg = self.server.cfg
        with LOCK:
            if STATE["throttle"] > 0:
                STATE["throttle"] -= 1
                STATE["pushes"].append({"instance": inst, "user": user, "throttled": True, "time": time.time()})
                return (400, "ThrottlingException", "Rate exceeded")
        if inst not in cfg.instance_id:
            return (400, "EC2InstanceNotFoundException", "instance %s not found" % inst)
        # Only the instance this metadata describes has a known zone.
        if inst == cfg.instance_id[0] and "AvailabilityZone" in req and req["AvailabilityZone"] != cfg.az:
            return (400, "InvalidArgsException", "wrong availability zone")
        if not USER_RE.match(user):
            return (400, "InvalidArgsException", "bad OS user")
        if not KEY_RE.match(key) or len(key) > 4096:
            return (400, "InvalidArgsException", "bad public key")
        request_id = str(uuid.uuid4())
        with LOCK:
            expiry = int(now()) + int(STATE["lifetime"])
            lines = ["#Timestamp=%d" % expiry, "#Instance=%s" % inst,
                     "#Caller=arn:aws:iam::123456789012:user/keybroker-test", "#Request=%s" % request_id, key]
            signed = "".join(line + "\n" for line in lines).encode()
            sig = self.server.key.sign(signed, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                                       hashes.SHA256())
            if STATE["tamper"] > 0:
                STATE["tamper"] -= 1
                sig = bytes([sig[0] ^ 1]) + sig[1:]
            b64 = base64.b64encode(sig).decode()
            text = "\n".join(lines + [b64[i:i + 64] for i in range(0, len(b64), 64)]) + "\n"
            if inst == cfg.instance_id[0]:
                STATE["keys"].setdefault(user, []).append((expiry, text))
            STATE["pushes"].append({"instance": inst, "user": user, "key": key, "time": time.time()})
        return (200, None, json.dumps({"RequestId": request_id, "Success": True}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ca-dir", required=True, help="output of eic_ca.sh")
    ap.add_argument("--instance-id", action="append", required=True,
                    help="the instance the metadata describes (first) and others the API accepts")
    ap.add_argument("--az", default="eu-west-1a")
    ap.add_argument("--domain", default="amazonaws.com")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("-v", "--verbose", action="store_true")
    cfg = ap.parse_args()
    # socketserver's default listen backlog is 5: more parallel pushers than
    # that would see dropped SYNs and 1 s retransmits.
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.cfg = cfg
    srv.verbose = cfg.verbose
    srv.key = serialization.load_pem_private_key(open(cfg.ca_dir + "/signer.key", "rb").read(), None)
    with open(cfg.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(cfg.port_file + ".tmp", cfg.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
