#!/usr/bin/env bash
# `broker store` and `broker config` on the local backend: terminal refusal
# of private keys (through a real pty), no private key on disk in clear,
# tamper reporting, exit codes, --json output, parallel CLI writers, and
# configuration precedence as shown by `broker config show`.
. "$KB_TESTLIB/common.sh"

kb_tmpdir T
export BROKER_STORE_DIR=$T/store
unset BROKER_STORE_PASSPHRASE BROKER_BACKEND BROKER_CONFIG
export XDG_CONFIG_HOME=$T/xdg HOME=$T/home
b() { "$BROKER" "$@"; }
jget() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# --- a credential in the DESIGN.md format with a real OpenSSH private key
ssh-keygen -q -t ed25519 -N '' -C 'alice@deploy' -f "$T/id" || kb_fail "ssh-keygen"
python3 - "$T/id" "$T/cred.json" <<'EOF'
import json, sys
priv = open(sys.argv[1]).read()
pub = open(sys.argv[1] + ".pub").read().strip()
json.dump({"kind": "keybroker/ssh-credential/v1", "key_type": "ssh-ed25519",
           "private_key": priv, "public_key": pub, "serial": 42,
           "key_id": "alice@deploy#42", "principals": ["deploy"], "role": "deploy",
           "requested_by": "alice"}, open(sys.argv[2], "w"))
EOF
N=keybroker/deploy/alice
b store put "$N" --from-file "$T/cred.json" >/dev/null || kb_fail "put credential"
cp "$T/id" "$T/raw-key"
b store put keybroker/raw/key --from-file "$T/raw-key" >/dev/null || kb_fail "put raw key"

# --- terminal refusal: a real pty via script(1)
out=$(script -qec "$BROKER store get $N" /dev/null </dev/null)
rc=$?
[ "$rc" -eq 2 ] || kb_fail "get to a terminal: exit $rc, expected 2: $out"
case $out in *"refusing to print it to a terminal"*"--force-terminal"*) ;; *) kb_fail "no refusal message: $out" ;; esac
case $out in *PRIVATE*) kb_fail "private key printed to a terminal" ;; esac
out=$(script -qec "$BROKER store get keybroker/raw/key" /dev/null </dev/null) && kb_fail "raw key printed to terminal"
out=$(script -qec "$BROKER store get $N --field private_key" /dev/null </dev/null) && kb_fail "field printed to terminal"
out=$(script -qec "$BROKER --json store get $N" /dev/null </dev/null) && kb_fail "--json printed key to terminal"
out=$(script -qec "$BROKER store get $N --field public_key" /dev/null </dev/null) ||
	kb_fail "public key refused on a terminal: $out"
case $out in *"$(cut -d' ' -f2 "$T/id.pub")"*) ;; *) kb_fail "public key not shown: $out" ;; esac
out=$(script -qec "$BROKER store get $N --force-terminal" /dev/null </dev/null) || kb_fail "--force-terminal refused"
case $out in *"BEGIN OPENSSH PRIVATE KEY"*) ;; *) kb_fail "--force-terminal did not print the key" ;; esac
# Not a terminal: printed, byte for byte.
b store get keybroker/raw/key | cmp -s - "$T/id" || kb_fail "raw key round trip"
b store get "$N" --field private_key | cmp -s - "$T/id" || kb_fail "private_key field round trip"
kb_pass "private keys are not printed to a terminal unless --force-terminal"

# --- no private key on disk in clear (also in passphrase mode)
check_no_key_on_disk() {
	python3 - "$T/id" "$1" <<'EOF' || kb_fail "private key material found on disk in $1"
import base64, os, sys
pem = open(sys.argv[1]).read()
body = "".join(l for l in pem.splitlines() if not l.startswith("-----"))
blob = base64.b64decode(body)
# openssh-key-v1: find the private section's ed25519 key (seed || pub, 64 bytes).
def s(b, o):
    n = int.from_bytes(b[o:o+4], "big"); return b[o+4:o+4+n], o+4+n
o = len(b"openssh-key-v1\0")
for _ in range(3): _, o = s(blob, o)           # cipher, kdf, kdf options
o += 4                                          # number of keys
_, o = s(blob, o)                               # public key
priv, _ = s(blob, o)
p = 8                                           # two check ints
_, p = s(priv, p); _, p = s(priv, p)            # type, public key
sk, _ = s(priv, p)
seed = sk[:32]
assert len(seed) == 32
needles = [seed, seed.hex().encode(), base64.b64encode(seed)[:40], body.encode(), blob[-80:]]
needles += [l.encode() for l in pem.splitlines() if len(l) > 20 and not l.startswith("-----")]
needles += [b"PRIVATE KEY", b"private_key"]
files = 0
for root, _, names in os.walk(sys.argv[2]):
    for n in names:
        data = open(os.path.join(root, n), "rb").read()
        files += 1
        for needle in needles:
            if needle in data:
                print("found %r in %s" % (needle[:20], os.path.join(root, n)), file=sys.stderr)
                sys.exit(1)
if files < 4:
    print("only %d files searched" % files, file=sys.stderr); sys.exit(1)
print("searched %d files for %d needles" % (files, len(needles)))
EOF
}
check_no_key_on_disk "$BROKER_STORE_DIR"
BROKER_STORE_PASSPHRASE='correct horse battery' BROKER_STORE_DIR=$T/pwstore \
	b store put "$N" --from-file "$T/cred.json" >/dev/null || kb_fail "put with passphrase"
[ -e "$T/pwstore/master.key" ] && kb_fail "passphrase store wrote a key file"
check_no_key_on_disk "$T/pwstore"
BROKER_STORE_PASSPHRASE='wrong' BROKER_STORE_DIR=$T/pwstore b store get "$N" >/dev/null 2>"$T/err" &&
	kb_fail "wrong passphrase accepted"
grep -q "wrong passphrase" "$T/err" || kb_fail "wrong passphrase message: $(cat "$T/err")"
BROKER_STORE_DIR=$T/pwstore b store ls >/dev/null 2>"$T/err" && kb_fail "missing passphrase accepted"
grep -q BROKER_STORE_PASSPHRASE "$T/err" || kb_fail "missing passphrase message: $(cat "$T/err")"
kb_pass "no private key material in the store's files; passphrase mode checked"

# --- permissions
[ "$(stat -c %a "$BROKER_STORE_DIR")" = 700 ] || kb_fail "store dir mode $(stat -c %a "$BROKER_STORE_DIR")"
[ "$(stat -c %a "$BROKER_STORE_DIR/master.key")" = 600 ] || kb_fail "master.key mode"
bad=$(find "$BROKER_STORE_DIR" -type f -perm /077 | head -1)
[ -z "$bad" ] || kb_fail "file readable by others: $bad"
kb_pass "store directory 0700, files 0600"

# --- tamper: a flipped byte is reported with exit 6, nothing printed
f=$(ls "$BROKER_STORE_DIR"/secrets/*/v1 | head -1)
python3 -c 'import sys; p=sys.argv[1]; d=bytearray(open(p,"rb").read()); d[40]^=1; open(p,"wb").write(d)' "$f"
for n in "$N" keybroker/raw/key; do
	b store get "$n" >"$T/out" 2>>"$T/tamper.err"
	echo "rc=$?" >>"$T/tamper.err"
done
grep -q "rc=6" "$T/tamper.err" || kb_fail "tampered file not reported: $(cat "$T/tamper.err")"
grep -q "failed authentication" "$T/tamper.err" || kb_fail "tamper message: $(cat "$T/tamper.err")"
python3 -c 'import sys; p=sys.argv[1]; d=bytearray(open(p,"rb").read()); d[40]^=1; open(p,"wb").write(d)' "$f"
b store get "$N" >/dev/null || kb_fail "restored file not accepted"
kb_pass "tampered version file: exit 6, names the secret"

# --- exit codes and usage
b store frobnicate 2>/dev/null; [ $? -eq 2 ] || kb_fail "unknown store command must exit 2"
b store put "$N" 2>/dev/null; [ $? -eq 2 ] || kb_fail "put without --from-file must exit 2"
b store get 2>/dev/null; [ $? -eq 2 ] || kb_fail "get without NAME must exit 2"
b store get "$N" --stage pending --version 1 2>/dev/null; [ $? -eq 2 ] || kb_fail "--stage with --version"
b store get keybroker/none/here 2>"$T/err"; [ $? -eq 4 ] || kb_fail "missing secret must exit 4"
grep -q "keybroker/none/here" "$T/err" || kb_fail "not-found message does not name the secret"
grep -q "broker store ls" "$T/err" || kb_fail "not-found message gives no hint"
b store put keybroker/x/y --from-file "$T/nonexistent" 2>/dev/null; [ $? -eq 4 ] || kb_fail "missing input file"
b --backend floppy store ls 2>"$T/err"; [ $? -eq 2 ] || kb_fail "unknown backend must exit 2"
grep -q "unknown backend 'floppy'" "$T/err" || kb_fail "unknown backend message: $(cat "$T/err")"
b store --help | grep -q "broker store promote" || kb_fail "store --help"
kb_pass "exit codes 2 (usage) and 4 (not found), messages name the secret"

# --- --json output of every read command parses
jget "$(b --json store ls keybroker/)" 'j["names"]' | grep -q "keybroker/deploy/alice" || kb_fail "ls --json"
d=$(b --json store describe "$N")
[ "$(jget "$d" 'j["versions"][0]["stages"][0]')" = current ] || kb_fail "describe --json: $d"
jget "$d" 'j["created"]' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' || kb_fail "describe --json time"
g=$(b --json store get "$N" --field serial)
[ "$(jget "$g" 'j["value"]')" = 42 ] || kb_fail "get --json --field serial: $g"
printf '\377\376binary' | b store put keybroker/bin/x --from-file - >/dev/null || kb_fail "binary put"
g=$(b --json store get keybroker/bin/x)
[ "$(jget "$g" '__import__("base64").b64decode(j["value_base64"])[2:]')" = "b'binary'" ] || kb_fail "binary --json: $g"
b store describe "$N" | grep -q "^  1 .*current" || kb_fail "describe text output"
kb_pass "--json output parses"

# --- two CLI writers in parallel, then a consistent history
writer() {
	local i
	for i in $(seq 1 25); do
		printf 'w%s-%s' "$1" "$i" | b store put keybroker/par/x --from-file - --token "w$1-$i" >/dev/null || exit 1
		if [ $((i % 5)) -eq 0 ]; then
			v=$(printf 'p%s-%s' "$1" "$i" | b --json store put keybroker/par/x --from-file - --stage pending |
				python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])') || exit 1
			b store promote keybroker/par/x "$v" >/dev/null || exit 1
		fi
	done
}
writer 1 & p1=$!
writer 2 & p2=$!
wait $p1 || kb_fail "writer 1 failed"
wait $p2 || kb_fail "writer 2 failed"
d=$(b --json store describe keybroker/par/x)
python3 - "$d" <<'EOF' || kb_fail "inconsistent history after parallel writers: $d"
import json, sys
j = json.loads(sys.argv[1])
ids = [int(v["version"]) for v in j["versions"]]
assert ids == list(range(1, 61)), ids
st = [s for v in j["versions"] for s in v["stages"]]
assert st.count("current") == 1 and st.count("previous") == 1 and st.count("pending") == 0, st
EOF
b store get keybroker/par/x >/dev/null || kb_fail "current unreadable after parallel writers"
kb_pass "two parallel CLI writers: 60 versions, one current, one previous"

# --- config show: defaults < file < environment < command line
cat >"$T/broker.conf" <<EOF
# test config
backend local
local.dir $T/from-file
aws.region eu-west-1
EOF
env -u BROKER_STORE_DIR BROKER_CONFIG="$T/broker.conf" "$BROKER" --json config show >"$T/show.json" ||
	kb_fail "config show"
python3 - "$T/show.json" "$T" <<'EOF' || kb_fail "config show (file): $(cat "$T/show.json")"
import json, sys
j = json.load(open(sys.argv[1])); t = sys.argv[2]
assert j["local.dir"] == {"value": t + "/from-file", "origin": "file " + t + "/broker.conf:3"}, j["local.dir"]
assert j["backend"]["origin"] == "file " + t + "/broker.conf:2"
assert j["vault.mount"] == {"value": "secret", "origin": "default"}
EOF
out=$(BROKER_CONFIG="$T/broker.conf" BROKER_STORE_DIR=$T/from-env AWS_REGION=us-west-2 \
	"$BROKER" --json config show --backend aws)
[ "$(jget "$out" 'j["local.dir"]["origin"]')" = "env BROKER_STORE_DIR" ] || kb_fail "env origin: $out"
[ "$(jget "$out" 'j["aws.region"]["value"]')" = us-west-2 ] || kb_fail "env region: $out"
[ "$(jget "$out" 'j["backend"]["value"]+"|"+j["backend"]["origin"]')" = "aws|command line --backend" ] ||
	kb_fail "command-line origin: $out"
env -u BROKER_STORE_DIR BROKER_CONFIG="$T/broker.conf" "$BROKER" config show | grep -qE "^local\.dir +.*/from-file +\(file .*broker\.conf:3\)$" ||
	kb_fail "config show text: $(BROKER_CONFIG="$T/broker.conf" b config show)"
[ "$(BROKER_CONFIG="$T/broker.conf" b config get aws.region)" = eu-west-1 ] || kb_fail "config get"
printf 'backend local\ncolour blue\n' >"$T/bad.conf"
b --config "$T/bad.conf" config show 2>"$T/err"; [ $? -eq 1 ] || kb_fail "bad config must fail"
grep -q "bad.conf:2: unknown setting 'colour'" "$T/err" || kb_fail "bad config message: $(cat "$T/err")"
rc=0; b --config "$T/missing.conf" config show 2>"$T/err" || rc=$?
[ "$rc" = 4 ] || kb_fail "missing --config file: exit $rc, want 4 (not found)"
grep -q "missing.conf: No such file" "$T/err" || kb_fail "missing config message: $(cat "$T/err")"
kb_pass "config precedence default < file < env < command line, shown with origins"
