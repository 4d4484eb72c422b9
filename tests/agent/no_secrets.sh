#!/usr/bin/env bash
# With -d (full debug output), broker-agent must never log key material:
# run a whole session and search the log for any 16-byte window of each
# private key file's decoded contents (raw, hex, base64) and for the
# file's base64 lines.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
for t in ed25519 ecdsa rsa; do ssh-keygen -q -t $t -N '' -C "secret-test-$t" -f "$T/id_$t"; done
ssh-keygen -q -t ed25519 -N '' -C ca -f "$T/ca"
ssh-keygen -q -s "$T/ca" -I certid -n someone -V -5m:+1h "$T/id_ed25519.pub"

"$BROKER_AGENT" -d -a "$T/sock" >"$T/stdout" 2>"$T/agent.log" &
apid=$!
kb_cleanup_add "kill $apid"
export SSH_AUTH_SOCK=$T/sock
for _ in $(seq 50); do [ -S "$SSH_AUTH_SOCK" ] && break; sleep 0.1; done
echo data >"$T/data"
ssh-add "$T/id_ed25519" "$T/id_ecdsa" "$T/id_rsa" 2>/dev/null || kb_fail "ssh-add"
ssh-add -t 60 -c "$T/id_rsa" 2>/dev/null || kb_fail "ssh-add -t -c"
ssh-add -l >/dev/null && ssh-add -L >/dev/null
for t in ed25519 ecdsa; do ssh-keygen -Y sign -f "$T/id_$t" -n test "$T/data" 2>/dev/null; rm -f "$T/data.sig"; done
printf '#!/bin/sh\necho correct-horse-battery-7731\n' >"$T/pw.sh"; chmod +x "$T/pw.sh"
SSH_ASKPASS=$T/pw.sh SSH_ASKPASS_REQUIRE=force ssh-add -x </dev/null 2>/dev/null
SSH_ASKPASS=$T/pw.sh SSH_ASKPASS_REQUIRE=force ssh-add -X </dev/null 2>/dev/null
ssh-add -d "$T/id_ecdsa" 2>/dev/null
ssh-add -D 2>/dev/null
kill $apid; wait $apid 2>/dev/null
cat "$T/stdout" >>"$T/agent.log"

# The log must be real debug output, or the search proves nothing.
grep -q "add ssh-ed25519-cert-v01@openssh.com SHA256:" "$T/agent.log" || kb_fail "no debug output: $(head "$T/agent.log")"
grep -q "signed .* bytes with" "$T/agent.log" || kb_fail "no signing debug lines"
/usr/bin/python3 - "$T/agent.log" "$T"/id_ed25519 "$T"/id_ecdsa "$T"/id_rsa <<'PY' || kb_fail "secret material in the -d log"
import base64, sys
log = open(sys.argv[1], "rb").read()
text = log.decode("latin-1")
low = text.lower()
bad = 0
for path in sys.argv[2:5]:
    lines = [l.strip() for l in open(path) if not l.startswith("-----")]
    blob = base64.b64decode("".join(lines))
    for l in lines:
        if len(l) >= 16 and l in text:
            print("base64 line of %s found" % path); bad += 1
    for i in range(0, len(blob) - 16):
        w = blob[i:i + 16]
        if all(32 <= c < 127 for c in w):
            continue  # type names and comments are not secrets
        if w in log or w.hex() in low or base64.b64encode(w).decode()[:20] in text:
            print("window at %d of %s found" % (i, path)); bad += 1; break
sys.exit(1 if bad else 0)
PY
# Public blobs legitimately start with the same bytes as the private file
# header; the loop above would have caught anything from the private part.
grep -q "correct-horse-battery-7731" "$T/agent.log" && kb_fail "lock passphrase logged"
kb_pass "no key material in broker-agent -d output ($(wc -l <"$T/agent.log") lines searched)"
