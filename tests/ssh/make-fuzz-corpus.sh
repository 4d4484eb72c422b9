#!/usr/bin/env bash
# Regenerates the seed corpora of the ssh-area fuzz targets from the
# fixtures (valid samples) plus truncated and corrupted variants.
# Usage: make-fuzz-corpus.sh BUILD_DIR   (needs tests/ssh/sshsig-tool built)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
fx=$here/fixtures
corpus=$here/../fuzz/corpus
tool=$(realpath "$1")/tests/ssh/sshsig-tool
python3 - "$fx" "$corpus" <<'PY'
import base64, os, sys
fx, corpus = sys.argv[1], sys.argv[2]
def w(d, name, data):
    with open(os.path.join(corpus, d, name), 'wb') as f:
        f.write(data)
pubs = sorted(f for f in os.listdir(fx) if f.endswith('.pub'))
for p in pubs:
    line = open(os.path.join(fx, p), 'rb').read()
    blob = base64.b64decode(line.split()[1])
    base = p[:-4]
    w('public_line', base, line)
    w('key_blob', base, blob)
    w('key_blob', base + '-trunc', blob[:len(blob) // 2])
    if b'-cert-' in line.split()[0]:
        w('cert_parse', base, blob)
        w('cert_parse', base + '-trunc', blob[:-7])
        w('cert_parse', base + '-trailing', blob + b'\0')
        # Unsorted extensions: swap two bytes inside the extension names.
        i = blob.find(b'permit-pty')
        if i > 0:
            w('cert_parse', base + '-badext', blob[:i] + b'permit-ptz' + blob[i + 10:])
w('public_line', 'garbage', b'ssh-ed25519 !!!! comment\n')
w('public_line', 'mismatch', b'ssh-rsa ' + open(os.path.join(fx, 'user_ed25519.pub'), 'rb').read().split()[1] + b'\n')
w('key_blob', 'empty', b'')
w('cert_parse', 'empty', b'')
MAGIC = b'openssh-key-v1\0'
def rd(b, o):
    n = int.from_bytes(b[o:o + 4], 'big'); return b[o + 4:o + 4 + n], o + 4 + n
for name in ['user_ed25519', 'user_ecdsa256', 'user_ecdsa384', 'user_ecdsa521', 'user_rsa2048', 'user_dsa',
             'user_ed25519_enc', 'user_ed25519_gcm']:
    path = os.path.join(fx, name)
    if not os.path.exists(path):
        continue
    text = open(path, 'rb').read()
    w('private_key', name, text)
    w('private_key', name + '-trunc', text[:len(text) * 2 // 3])
    raw = base64.b64decode(b''.join(text.splitlines()[1:-1]))
    o = len(MAGIC)
    cipher, o = rd(raw, o); kdf, o = rd(raw, o); opts, o = rd(raw, o)
    o += 4
    pub, o = rd(raw, o); priv, o = rd(raw, o)
    if cipher == b'none':
        body = priv[8:]
        w('private_key', name + '-serialized', body)
PY
msg=$(mktemp)
printf 'keybroker fuzz message' >"$msg"
i=0
for k in user_ed25519 user_ecdsa256 user_ecdsa521 user_rsa2048 user_dsa; do
	algs=-
	[ $k = user_rsa2048 ] && algs="rsa-sha2-256 rsa-sha2-512 ssh-rsa"
	for a in $algs; do
		{ printf "\\x$(printf %02x $i)"; "$tool" rawsign "$fx/$k" "$a" <"$msg"; } >"$corpus/signature/$k-$a"
	done
	i=$((i + 1))
done
printf '\0\0\0\0\x0bssh-ed25519' >"$corpus/signature/trunc"
rm -f "$msg"
