#!/usr/bin/env python3
"""Reads an unencrypted openssh-key-v1 private key (PEM) on stdin and fails
(exit 1) when any of the given files contains its secret part: any 12-byte
window of it raw, in hex (either case) or in base64 (every alignment).
Exit 2 when the key cannot be parsed (the check must not pass vacuously)."""
import base64
import struct
import sys


def strings(buf, off, n):
    out = []
    for _ in range(n):
        (ln,) = struct.unpack(">I", buf[off:off + 4])
        out.append(buf[off + 4:off + 4 + ln])
        off += 4 + ln
    return out, off


def secret_of(pem):
    body = "".join(l for l in pem.splitlines() if l and not l.startswith("-----"))
    raw = base64.b64decode(body)
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        sys.exit(2)
    (cipher, kdf, _opts), off = strings(raw, len(magic), 3)
    if cipher != b"none":
        sys.exit(2)
    off += 4  # number of keys
    (_pub, priv), off = strings(raw, off, 2)
    # checkint, checkint, key type, then the type's fields; everything after
    # the key type is secret enough for this check except the public part,
    # so take the last field before the comment for ed25519 (seed||pub) and
    # the private scalar/exponent for ecdsa/rsa.
    (ktype,), p = strings(priv, 8, 1)
    if ktype == b"ssh-ed25519":
        (_pk, sk), _ = strings(priv, p, 2)
        return sk[:32]
    if ktype.startswith(b"ecdsa-"):
        (_curve, _q, d), _ = strings(priv, p, 3)
        return d
    if ktype == b"ssh-rsa":
        (_n, _e, d), _ = strings(priv, p, 3)
        return d
    sys.exit(2)


def needles(secret, w=12):
    out = set()
    for i in range(0, len(secret) - w + 1):
        win = secret[i:i + w]
        out.add(win)
        out.add(win.hex().encode())
        out.add(win.hex().upper().encode())
    for shift in range(3):
        b = base64.b64encode(secret[shift:])
        for i in range(0, len(b) - 16 + 1, 4):
            out.add(b[i:i + 16])
    return out


secret = secret_of(sys.stdin.read())
if len(secret) < 16:
    sys.exit(2)
ns = needles(secret)
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    if any(n in data for n in ns):
        print(f"secret key material found in {path}", file=sys.stderr)
        sys.exit(1)
sys.exit(0)
