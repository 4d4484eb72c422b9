#!/usr/bin/env python3
"""Regenerates the seed corpus of the 'agent_handler' fuzz target from real
clients: a Unix-socket proxy between stock ssh-add / ssh-keygen and an agent
records every client->agent message stream, one file per client
connection (uint32 length + body frames, as on the wire).  Then adds a few
invalid samples.  Throwaway test keys only.

Usage: make_corpus.py AGENT_BINARY OUTDIR"""
import os, socket, struct, subprocess, sys, tempfile, threading, time

agent, outdir = sys.argv[1], sys.argv[2]
os.makedirs(outdir, exist_ok=True)
tmp = tempfile.mkdtemp()
real = os.path.join(tmp, "real.sock")
proxy = os.path.join(tmp, "proxy.sock")
ap = subprocess.Popen([agent, "-D", "-a", real], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while not os.path.exists(real):
    pass
name = ["none"]
counter = [0]

def pump(src, dst, rec):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            if rec is not None:
                rec.extend(d)
            dst.sendall(d)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass

def serve(ls):
    while True:
        c, _ = ls.accept()
        label = name[0]
        u = socket.socket(socket.AF_UNIX)
        u.connect(real)
        rec = bytearray()
        t1 = threading.Thread(target=pump, args=(c, u, rec))
        t2 = threading.Thread(target=pump, args=(u, c, None))
        t1.start(); t2.start(); t1.join(); t2.join()
        c.close(); u.close()
        if rec:
            counter[0] += 1
            with open(os.path.join(outdir, "%s-%d" % (label, counter[0])), "wb") as f:
                f.write(rec)

ls = socket.socket(socket.AF_UNIX)
ls.bind(proxy)
ls.listen(16)
threading.Thread(target=serve, args=(ls,), daemon=True).start()
env = dict(os.environ, SSH_AUTH_SOCK=proxy)

def run(label, *cmd, **kw):
    name[0] = label
    kw.setdefault("env", env)
    subprocess.run(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    time.sleep(0.3)  # let the proxy finish recording

keys = {}
for t, extra in (("ed25519", []), ("ecdsa", []), ("rsa", ["-b", "2048"]), ("dsa", [])):
    p = os.path.join(tmp, "id_" + t)
    subprocess.run(["ssh-keygen", "-q", "-t", t, "-N", "", "-C", "corpus-" + t, "-f", p] + extra, check=True)
    keys[t] = p
ca = os.path.join(tmp, "ca")
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ca], check=True)
subprocess.run(["ssh-keygen", "-q", "-s", ca, "-I", "corpus", "-n", "u", "-V", "-5m:+52w", keys["ecdsa"] + ".pub"], check=True)
data = os.path.join(tmp, "data")
open(data, "w").write("hello\n")
pw = os.path.join(tmp, "pw.sh")
open(pw, "w").write("#!/bin/sh\necho pass\n")
os.chmod(pw, 0o755)
kh = os.path.join(tmp, "kh")
open(kh, "w").write("somehost " + open(keys["dsa"] + ".pub").read())

for t, p in keys.items():
    run("add-" + t, "ssh-add", p)
run("list", "ssh-add", "-l")
run("list-L", "ssh-add", "-L")
run("add-life-confirm", "ssh-add", "-t", "600", "-c", keys["ed25519"])
run("add-restricted", "ssh-add", "-H", kh, "-h", "somehost", "-h", "somehost>u@somehost", keys["ed25519"])
for t in ("ed25519", "rsa"):
    run("sign-" + t, "ssh-keygen", "-Y", "sign", "-f", keys[t] + ".pub", "-n", "file", data)
    try:
        os.unlink(data + ".sig")
    except OSError:
        pass
run("lock", "ssh-add", "-x", env=dict(env, SSH_ASKPASS=pw, SSH_ASKPASS_REQUIRE="force"), stdin=subprocess.DEVNULL)
run("unlock", "ssh-add", "-X", env=dict(env, SSH_ASKPASS=pw, SSH_ASKPASS_REQUIRE="force"), stdin=subprocess.DEVNULL)
run("remove", "ssh-add", "-d", keys["ecdsa"])
run("remove-all", "ssh-add", "-D")
ap.terminate()

def frame(body):
    return struct.pack(">I", len(body)) + body
bad = {
    "bad-empty-frame": struct.pack(">I", 0),
    "bad-huge-length": struct.pack(">I", 0xFFFFFFF0) + b"\x0b",
    "bad-unknown-type": frame(b"\xc8"),
    "bad-truncated-sign": frame(b"\x0d\x00\x00\x00\x33\x00"),
    "bad-smartcard": frame(b"\x14\x00\x00\x00\x04/lib\x00\x00\x00\x00"),
    "ext-query": frame(b"\x1b\x00\x00\x00\x05query"),
    "ext-list": frame(b"\x1b" + struct.pack(">I", 25) + b"list-identities@keybroker"),
    "bad-session-bind": frame(b"\x1b" + struct.pack(">I", 24) + b"session-bind@openssh.com" + b"\x00" * 13),
}
for k, v in bad.items():
    with open(os.path.join(outdir, k), "wb") as f:
        f.write(v)
print("corpus written to", outdir)
