#!/usr/bin/env bash
# Hostile and parallel clients: a client stuck mid-message, an oversized
# frame, garbage, and a confirm prompt that never answers must not stop
# other clients; 32 parallel signers all get valid signatures.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
ssh-keygen -q -t ed25519 -N '' -C fast -f "$T/k"
ssh-keygen -q -t ed25519 -N '' -C slow-confirm -f "$T/kc"
printf '#!/bin/sh\nsleep 60\n' >"$T/hang.sh"; chmod +x "$T/hang.sh"
SSH_ASKPASS=$T/hang.sh "$BROKER_AGENT" -D -a "$T/sock" >/dev/null 2>&1 &
apid=$!
kb_cleanup_add "kill $apid"
export SSH_AUTH_SOCK=$T/sock
for _ in $(seq 50); do [ -S "$SSH_AUTH_SOCK" ] && break; sleep 0.1; done
ssh-add "$T/k" 2>/dev/null && ssh-add -c "$T/kc" 2>/dev/null || kb_fail "ssh-add"

# Hostile clients, kept open in the background.
/usr/bin/python3 - "$T/sock" >"$T/hostile.out" 2>&1 <<'PY' &
import socket, struct, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); return s
stuck = conn(); stuck.send(struct.pack(">I", 1000) + b"\x0b" * 10)      # half a message, then silence
big = conn(); big.send(struct.pack(">I", 256 * 1024 + 1) + b"\x0b")       # over the 256 KiB cap
zero = conn(); zero.send(struct.pack(">I", 0))                            # empty frame
junk = conn(); junk.send(struct.pack(">I", 3) + b"\xc8\x01\x02")          # unknown type: failure reply
r = junk.recv(16)
pipe = conn(); pipe.send((struct.pack(">I", 1) + b"\x0b") * 3)               # three requests in one write
got = b""
while got.count(b"\x0c") < 3 and len(got) < 1 << 20:
    d = pipe.recv(65536)
    if not d:
        break
    got += d
print("pipelined-ok" if len(got) > 15 else "pipelined-bad")
ok = r == struct.pack(">I", 1) + b"\x05"
def gone(s):
    try:
        return s.recv(16) == b""
    except ConnectionResetError:
        return True
closed = gone(big) and gone(zero)
print("junk-reply-ok" if ok else "junk-reply-bad %r" % r)
print("closed-ok" if closed else "closed-bad")
sys.stdout.flush()
time.sleep(30)
PY
hostile=$!
kb_cleanup_add "kill $hostile"
sleep 0.5
# A signature that waits for a confirmation that never comes.
echo data >"$T/data"
mv "$T/kc" "$T/kc.away"
ssh-keygen -Y sign -f "$T/kc.pub" -n file "$T/data" >/dev/null 2>&1 &
waiting=$!
kb_cleanup_add "kill $waiting"
sleep 0.5
mv "$T/k" "$T/k.away"
echo "signer $(cat "$T/k.pub")" >"$T/allowed"
pids=()
for i in $(seq 32); do
	cp "$T/data" "$T/d$i"
	timeout 30 ssh-keygen -Y sign -f "$T/k.pub" -n file "$T/d$i" >/dev/null 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || kb_fail "a parallel signer failed or was stalled"; done
for i in $(seq 32); do
	ssh-keygen -Y verify -f "$T/allowed" -I signer -n file -s "$T/d$i.sig" <"$T/d$i" >/dev/null ||
		kb_fail "bad signature from parallel signer $i"
done
timeout 10 ssh-add -l >/dev/null || kb_fail "listing stalled behind hostile clients"
grep -q junk-reply-ok "$T/hostile.out" || kb_fail "unknown message not answered with failure: $(cat "$T/hostile.out")"
grep -q pipelined-ok "$T/hostile.out" || kb_fail "pipelined requests not all answered: $(cat "$T/hostile.out")"
grep -q closed-ok "$T/hostile.out" || kb_fail "oversized/empty frames not closed: $(cat "$T/hostile.out")"
kill -0 "$waiting" 2>/dev/null || kb_fail "the unconfirmed signature did not wait for its prompt"
kill -0 "$apid" || kb_fail "agent died"
kb_pass "hostile clients and a pending confirmation do not stall 32 parallel signers"
