#!/usr/bin/env bash
# broker/sshc against a real sshd on 127.0.0.1: host key checks, agent and
# in-memory authentication, exec, timeouts, authorized_keys edits.
# Usage: sshc.sh SSHC_TOOL
. "$KB_TESTLIB/common.sh"
T=$1
kb_tmpdir D
U=$(id -un)
mkdir -p "$D/home"
for t in ed25519 ecdsa rsa other new k2 c1 c2 c3 c4; do
	case $t in
	ecdsa) ssh-keygen -q -t ecdsa -b 256 -N '' -f "$D/id_$t" -C "key $t" ;;
	rsa) ssh-keygen -q -t rsa -b 3072 -N '' -f "$D/id_$t" -C "key $t" ;;
	*) ssh-keygen -q -t ed25519 -N '' -f "$D/id_$t" -C "key $t" ;;
	esac
done
# HOME points at an empty directory (no dot files run, no real ~/.ssh);
# sshd reads keys from $D/<user>.keys only.
mkdir -p "$D/sshd"
ssh-keygen -q -t ecdsa -b 256 -N '' -f "$D/sshd/host_ecdsa"
ssh-keygen -q -t rsa -b 3072 -N '' -f "$D/sshd/host_rsa"
ssh-keygen -q -t ed25519 -N '' -f "$D/ca"
kb_sshd_start "$D/sshd" "HostKey $D/sshd/host_ecdsa" "HostKey $D/sshd/host_rsa" "SetEnv HOME=$D/home" \
	"TrustedUserCAKeys $D/ca.pub" \
	"Match all" "AuthorizedKeysFile $D/%u.keys"
AK=$D/$U.keys
cat "$D/id_ed25519.pub" "$D/id_ecdsa.pub" "$D/id_rsa.pub" >"$AK"
KH=$SSHD_KNOWN_HOSTS
TGT=$U@127.0.0.1:$SSHD_PORT
HOSTPUB=$(cut -d' ' -f1,2 "$D/sshd/host_ed25519.pub")

# run EXPECTED_RC [tool args...]: stdout in $D/out, stderr in $D/err
run() {
	local want=$1 rc
	shift
	"$T" "$@" >"$D/out" 2>"$D/err"
	rc=$?
	[ "$rc" -eq "$want" ] || kb_fail "sshc-tool $* exited $rc, expected $want: $(cat "$D/err")"
}
err_has() { grep -qF -- "$1" "$D/err" || kb_fail "error message lacks '$1': $(cat "$D/err")"; }
ms() { date +%s%3N; }

# --- target parsing ---
run 0 "$U@[::1]:2222" parse; [ "$(cat "$D/out")" = "$U@[::1]:2222" ] || kb_fail "v6 target"
run 0 "$U@example.org" parse; [ "$(cat "$D/out")" = "$U@example.org:22" ] || kb_fail "default port"
run 17 'bad user@host' parse
run 17 "$U@host:99999" parse
run 17 "$U@::1" parse
kb_pass "target parsing"

# --- in-memory authentication, each key type ---
for t in ed25519 ecdsa rsa; do
	run 0 -k "$KH" -i "$D/id_$t" "$TGT" exec 'echo hello'
	[ "$(cat "$D/out")" = hello ] || kb_fail "$t: output $(cat "$D/out")"
done
grep -q "Accepted publickey for $U .* RSA " "$SSHD_LOG" || kb_fail "sshd did not log the RSA login"
kb_pass "in-memory auth: ed25519, ecdsa-p256, rsa-3072 (rsa-sha2-512)"

run 11 -k "$KH" -i "$D/id_other" "$TGT" exec true
err_has "permission denied (publickey)"
err_has "$(ssh-keygen -lf "$D/id_other.pub" | cut -d' ' -f2)"
kb_pass "a key the server does not accept is refused"

# --- exec ---
head -c 300000 /dev/urandom >"$D/in.bin"
"$T" -k "$KH" -i "$D/id_ed25519" "$TGT" exec 'cat; echo to-stderr >&2; exit 7' <"$D/in.bin" >"$D/out" 2>"$D/err"
rc=$?
[ $rc -eq 7 ] || kb_fail "exit status $rc, expected 7: $(cat "$D/err")"
cmp -s "$D/in.bin" "$D/out" || kb_fail "stdin did not come back on stdout"
[ "$(cat "$D/err")" = to-stderr ] || kb_fail "stderr: $(cat "$D/err")"
run 0 -k "$KH" -i "$D/id_ed25519" "$TGT" exec 'head -c 1048576 /dev/zero'
[ "$(wc -c <"$D/out")" -eq 1048576 ] || kb_fail "1 MiB of output not captured"
run 16 -k "$KH" -i "$D/id_ed25519" "$TGT" exec 'head -c 1048577 /dev/zero'
err_has "exceeded"
run 255 -k "$KH" -i "$D/id_ed25519" "$TGT" exec 'kill -KILL $$'
kb_pass "exec: stdin, stdout, stderr, exit status, output cap, signal"

# --- command timeout: returns promptly, the connection is dropped ---
t0=$(ms)
run 10 -k "$KH" -i "$D/id_ed25519" -C 1000 "$TGT" exec "echo \$\$ >'$D/sleep.pid'; exec sleep 100"
t1=$(ms)
kb_cleanup_add "kill \$(cat '$D/sleep.pid')"
[ $((t1 - t0)) -lt 5000 ] || kb_fail "command timeout took $((t1 - t0)) ms"
err_has "timed out"
err_has "$TGT"
kb_pass "command timeout ($((t1 - t0)) ms for a 1000 ms limit)"

# --- connect timeout: a socket that accepts and never speaks ---
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' >"$D/silent.port" &
kb_cleanup_add "kill $!"
for _ in $(seq 50); do [ -s "$D/silent.port" ] && break; sleep 0.1; done
SP=$(cat "$D/silent.port")
t0=$(ms)
run 10 -k "$KH" -i "$D/id_ed25519" -T 1000 "$U@127.0.0.1:$SP" connect
t1=$(ms)
[ $((t1 - t0)) -lt 5000 ] || kb_fail "connect timeout took $((t1 - t0)) ms"
err_has "$U@127.0.0.1:$SP"
err_has "timed out"
kb_pass "connect timeout against a silent listener ($((t1 - t0)) ms for 1000 ms)"
# host names are resolved under the deadline too (getaddrinfo_a)
echo "[localhost]:$SSHD_PORT $HOSTPUB" >"$D/kh.localhost"
run 0 -k "$D/kh.localhost" -i "$D/id_ed25519" -T 5000 "$U@localhost:$SSHD_PORT" exec true
t0=$(ms)
"$T" -k "$KH" -i "$D/id_ed25519" -T 1000 "$U@no-such-host.invalid:22" connect >"$D/out" 2>"$D/err"
rc=$?
t1=$(ms)
[ $rc -eq 15 ] || [ $rc -eq 10 ] || kb_fail "unresolvable host: exit $rc: $(cat "$D/err")"
[ $((t1 - t0)) -lt 5000 ] || kb_fail "name resolution took $((t1 - t0)) ms"
err_has "no-such-host.invalid"
# a closed port fails at once with a network error
CP=$(kb_free_port)
run 15 -k "$KH" -i "$D/id_ed25519" "$U@127.0.0.1:$CP" connect
err_has "refused"

# --- known_hosts ---
: >"$D/kh.empty"
run 12 -k "$D/kh.empty" -i "$D/id_ed25519" "$TGT" connect
err_has "no entry for '[127.0.0.1]:$SSHD_PORT'"
err_has "$(ssh-keygen -lf "$D/sshd/host_ed25519.pub" | cut -d' ' -f2)"
err_has "ssh-keyscan -p $SSHD_PORT"
run 12 -k "$D/kh.missing" -i "$D/id_ed25519" "$TGT" connect
err_has "does not exist"
# port 22 entry does not vouch for another port
echo "127.0.0.1 $HOSTPUB" >"$D/kh.port22"
run 12 -k "$D/kh.port22" -i "$D/id_ed25519" "$TGT" connect
kb_pass "unknown host refused"

ssh-keygen -q -t ed25519 -N '' -f "$D/fakehost"
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$D/fakehost.pub")" >"$D/kh.changed"
run 13 -k "$D/kh.changed" -i "$D/id_ed25519" "$TGT" connect
err_has "REMOTE HOST IDENTIFICATION HAS CHANGED"
err_has "ssh-keygen -R '[127.0.0.1]:$SSHD_PORT' -f $D/kh.changed"
err_has "$D/kh.changed:1"
kb_pass "changed host key refused"

{
	echo "# a comment"
	echo
	echo "other.example,10.9.8.7 $HOSTPUB"
	echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$D/id_ecdsa.pub")"
	echo "somehost,[127.0.0.1]:$SSHD_PORT $HOSTPUB"
} >"$D/kh.list"
run 0 -k "$D/kh.list" -i "$D/id_ed25519" "$TGT" connect
echo "[127.0.0.*]:$SSHD_PORT $HOSTPUB" >"$D/kh.wild"
run 0 -k "$D/kh.wild" -i "$D/id_ed25519" "$TGT" connect
echo "![127.0.0.1]:$SSHD_PORT,[127.0.0.*]:* $HOSTPUB" >"$D/kh.neg"
run 12 -k "$D/kh.neg" -i "$D/id_ed25519" "$TGT" connect
kb_pass "comma lists, wildcards, negation, other key types for the host"

cp "$KH" "$D/kh.hashed"
echo "other.example $(cut -d' ' -f1,2 "$D/fakehost.pub")" >>"$D/kh.hashed"
ssh-keygen -q -H -f "$D/kh.hashed" 2>/dev/null
grep -q '^|1|' "$D/kh.hashed" || kb_fail "ssh-keygen -H did not hash"
grep -q '127.0.0.1' "$D/kh.hashed" && kb_fail "hashed file still has the name"
run 0 -k "$D/kh.hashed" -i "$D/id_ed25519" "$TGT" connect
cp "$D/kh.changed" "$D/kh.hashed2"
ssh-keygen -q -H -f "$D/kh.hashed2" 2>/dev/null
run 13 -k "$D/kh.hashed2" -i "$D/id_ed25519" "$TGT" connect
# and ssh-keygen finds the entry we matched
ssh-keygen -F "[127.0.0.1]:$SSHD_PORT" -f "$D/kh.hashed" >/dev/null || kb_fail "ssh-keygen -F"
kb_pass "hashed entries (ssh-keygen -H) accepted, and a hashed changed key refused"

# the host key type follows what known_hosts lists for the host, as in ssh
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$D/sshd/host_ecdsa.pub")" >"$D/kh.ecdsa"
run 0 -k "$D/kh.ecdsa" -i "$D/id_ed25519" "$TGT" connect
# RSA host keys need ssh-rsa (SHA-1) host signatures in libssh2 1.10,
# which OpenSSH 8.8+ no longer makes: a clear error
echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$D/sshd/host_rsa.pub")" >"$D/kh.rsa"
run 15 -k "$D/kh.rsa" -i "$D/id_ed25519" "$TGT" connect
err_has "offers none of the host key types $D/kh.rsa lists"
kb_pass "host key algorithm chosen from known_hosts (ECDSA); RSA-only entries give a clear error"

{ cat "$KH"; echo "@revoked * $HOSTPUB"; } >"$D/kh.revoked"
run 14 -k "$D/kh.revoked" -i "$D/id_ed25519" "$TGT" connect
err_has "@revoked"
{ cat "$KH"; echo "@revoked * $(cut -d' ' -f1,2 "$D/fakehost.pub")"; } >"$D/kh.revoked-other"
run 0 -k "$D/kh.revoked-other" -i "$D/id_ed25519" "$TGT" connect
kb_pass "@revoked host key refused"

echo "@cert-authority * $(cut -d' ' -f1,2 "$D/fakehost.pub")" >"$D/kh.ca"
run 12 -k "$D/kh.ca" -i "$D/id_ed25519" "$TGT" connect
err_has "none is a host certificate for its"
kb_pass "@cert-authority line but no host certificate: refused (full checks in hostca.sh)"

# --- agent ---
eval "$(ssh-agent -s -a "$D/agent.sock")" >/dev/null
kb_cleanup_add "kill $SSH_AGENT_PID"
ssh-add -q "$D/id_other" 2>/dev/null
ssh-add -q "$D/id_ed25519" 2>/dev/null
run 0 -k "$KH" -A "$D/agent.sock" "$TGT" exec 'echo via-agent'
[ "$(cat "$D/out")" = via-agent ] || kb_fail "agent login output"
run 0 -k "$KH" -A "$D/agent.sock" -P "$D/id_ed25519.pub" "$TGT" exec true
run 11 -k "$KH" -A "$D/agent.sock" -P "$D/id_other.pub" "$TGT" exec true
err_has "did not accept the agent's key"
run 11 -k "$KH" -A "$D/agent.sock" -P "$D/id_ecdsa.pub" "$TGT" exec true
err_has "does not hold the key"
ssh-add -q "$D/id_rsa" 2>/dev/null
run 0 -k "$KH" -A "$D/agent.sock" -P "$D/id_rsa.pub" "$TGT" exec true
run 11 -k "$KH" -A "$D/agent.nosock" "$TGT" exec true
err_has "cannot use the agent at $D/agent.nosock"
kb_pass "agent auth: any key, pinned key, pinned refused key fails, RSA via agent"

# certificates in the agent (user certificates, TrustedUserCAKeys):
# ECDSA ones work; Ed25519 and RSA ones are skipped (libssh2 1.10 labels
# their signatures with the certificate name, which OpenSSH refuses)
ssh-add -q -D 2>/dev/null
ssh-keygen -q -t ecdsa -b 256 -N '' -f "$D/id_ucert"
for t in c2 ucert; do
	ssh-keygen -q -s "$D/ca" -I "cert-$t" -n "$U" -V -5m:+1h "$D/id_$t.pub"
	ssh-add -q "$D/id_$t" 2>/dev/null
done
ssh-add -q -d "$D/id_c2.pub" "$D/id_ucert.pub" 2>/dev/null # certificates only
ssh-add -q "$D/id_c2-cert.pub" "$D/id_ucert-cert.pub" 2>/dev/null
[ "$(ssh-add -L | grep -c cert-v01)" -eq 2 ] || kb_fail "agent setup: $(ssh-add -L | cut -c1-40)"
run 0 -k "$KH" -A "$D/agent.sock" "$TGT" exec true
grep -q "Accepted publickey for $U .* ECDSA-CERT .* ID cert-ucert" "$SSHD_LOG" || kb_fail "no certificate login in the log"
ssh-add -q -D 2>/dev/null
kb_pass "agent auth with an ECDSA user certificate"

# --- parallel sessions in threads ---
run 0 -j 8 -k "$KH" -i "$D/id_ed25519" "$TGT" exec 'echo par'
[ "$(grep -c '^par$' "$D/out")" -eq 8 ] || kb_fail "8 parallel sessions: $(cat "$D/out")"
kb_pass "8 sessions in parallel threads"

# --- authorized_keys edits ---
NEWB=$(cut -d' ' -f2 "$D/id_new.pub")
K2B=$(cut -d' ' -f2 "$D/id_k2.pub")
{
	cat "$D/id_ed25519.pub"
	echo "# a comment mentioning $NEWB"
	echo
	printf '   \t  \n'
	echo "command=\"echo \\\"a $K2B b\\\"\",no-pty $(cut -d' ' -f1,2 "$D/id_ecdsa.pub") opts with quoted blanks"
	echo "from=\"127.0.0.1\" $(cut -d' ' -f1,2 "$D/id_rsa.pub")"
} >"$AK"
chmod 644 "$AK"
cp "$AK" "$D/ak.orig"
A=(-k "$KH" -i "$D/id_ed25519" -a "$D/%u.keys" "$TGT")
run 0 "${A[@]}" has "$D/id_new.pub"; [ "$(cat "$D/out")" = no ] || kb_fail "has before add"
kb_ssh -i "$D/id_new" -o IdentitiesOnly=yes "$U@127.0.0.1" true 2>/dev/null && kb_fail "new key works before add"
run 0 "${A[@]}" add "$D/id_new.pub" 'rotated $(touch pwned) `x` "q" é'
[ -e pwned ] || [ -e "$D/home/pwned" ] && kb_fail "comment reached a shell"
run 0 "${A[@]}" has "$D/id_new.pub"; [ "$(cat "$D/out")" = yes ] || kb_fail "has after add"
head -c "$(stat -c %s "$D/ak.orig")" "$AK" | cmp -s - "$D/ak.orig" || kb_fail "add changed other lines"
[ "$(tail -n 1 "$AK")" = "ssh-ed25519 $NEWB rotated __touch pwned_ _x_ _q_ __" ] || kb_fail "added line: $(tail -n 1 "$AK")"
[ "$(stat -c %a "$AK")" = 600 ] || kb_fail "mode $(stat -c %a "$AK")"
ls "$D" | grep -q 'kb-tmp\|kb-lockdir' && kb_fail "temporary files left"
kb_ssh -i "$D/id_new" -o IdentitiesOnly=yes "$U@127.0.0.1" 'echo new-works' >"$D/out" || kb_fail "ssh with the added key"
[ "$(cat "$D/out")" = new-works ] || kb_fail "ssh output"
cp "$AK" "$D/ak.added"
run 0 "${A[@]}" add "$D/id_new.pub" 'another comment'
cmp -s "$AK" "$D/ak.added" || kb_fail "second add changed the file"
run 0 "${A[@]}" remove "$D/id_new.pub"
cmp -s "$AK" "$D/ak.orig" || kb_fail "remove did not restore the file byte for byte"
kb_ssh -i "$D/id_new" -o IdentitiesOnly=yes "$U@127.0.0.1" true 2>/dev/null && kb_fail "removed key still works"
run 0 "${A[@]}" remove "$D/id_new.pub"
cmp -s "$AK" "$D/ak.orig" || kb_fail "second remove changed the file"
kb_pass "authorized_keys add/has/remove: other lines byte for byte, idempotent, mode 0600, real ssh in and out"

# a key behind options with quoted blanks; a last line without newline
run 0 "${A[@]}" has "$D/id_ecdsa.pub"; [ "$(cat "$D/out")" = yes ] || kb_fail "key after options not found"
run 0 "${A[@]}" has "$D/id_k2.pub"; [ "$(cat "$D/out")" = no ] || kb_fail "blob inside quoted option matched"
printf 'ssh-ed25519 %s no-newline' "$K2B" >>"$AK"
cp "$AK" "$D/ak.nonl"
run 0 "${A[@]}" remove "$D/id_ecdsa.pub"
grep -v "no-pty $(cut -d' ' -f1 "$D/id_ecdsa.pub")" "$D/ak.nonl" | head -c -1 >"$D/ak.want"
cmp -s "$AK" "$D/ak.want" || kb_fail "remove behind options: $(diff "$AK" "$D/ak.want")"
run 0 "${A[@]}" remove "$D/id_k2.pub"
[ "$(tail -c 1 "$AK" | od -An -c | tr -d ' ')" = '\n' ] || kb_fail "file does not end in a newline"
run 0 "${A[@]}" has "$D/id_k2.pub"; [ "$(cat "$D/out")" = no ] || kb_fail "k2 still there"
kb_pass "keys behind quoted options, last line without newline"

# default path in $HOME (created 0700), relative path and %h
run 0 -k "$KH" -i "$D/id_ed25519" "$TGT" add "$D/id_new.pub" c
[ "$(stat -c %a "$D/home/.ssh")" = 700 ] || kb_fail ".ssh mode $(stat -c %a "$D/home/.ssh")"
[ "$(stat -c %a "$D/home/.ssh/authorized_keys")" = 600 ] || kb_fail "authorized_keys mode"
[ "$(cat "$D/home/.ssh/authorized_keys")" = "ssh-ed25519 $NEWB c" ] || kb_fail "default path content"
run 0 -k "$KH" -i "$D/id_ed25519" -a "rel/dir/keys" "$TGT" add "$D/id_new.pub"
[ -f "$D/home/rel/dir/keys" ] || kb_fail "relative path"
run 0 -k "$KH" -i "$D/id_ed25519" -a "%h/h %u.keys" "$TGT" add "$D/id_new.pub"
[ -f "$D/home/h $U.keys" ] || kb_fail "%h path"
run 17 -k "$KH" -i "$D/id_ed25519" -a "%x/keys" "$TGT" add "$D/id_new.pub"
ln -s "$D/home/rel/dir/keys" "$D/home/link"
run 1 -k "$KH" -i "$D/id_ed25519" -a "link" "$TGT" remove "$D/id_new.pub"
err_has "is a symbolic link"
[ -L "$D/home/link" ] || kb_fail "the link was replaced"
run 0 -k "$KH" -i "$D/id_ed25519" -a "link" "$TGT" has "$D/id_new.pub"
[ "$(cat "$D/out")" = yes ] || kb_fail "has through a link"
kb_pass "authorized_keys paths: default, relative, %h, %u; symbolic links not replaced"

# a forced command that exits 0 is not taken for a successful edit
cp "$D/ak.orig" "$AK"
echo "command=\"true\" $(cat "$D/id_c1.pub")" >>"$AK"
cp "$AK" "$D/ak.forced"
run 1 -k "$KH" -i "$D/id_c1" -a "$D/%u.keys" "$TGT" add "$D/id_new.pub"
err_has "did not run the edit script"
run 1 -k "$KH" -i "$D/id_c1" -a "$D/%u.keys" "$TGT" has "$D/id_new.pub"
cmp -s "$AK" "$D/ak.forced" || kb_fail "the file changed under a forced command"
kb_pass "a forced command is detected"

# an editor killed mid-way leaves nothing that blocks the next one: with
# flock(1) the lock dies with its holder; leftover temporary files go
cp "$D/ak.orig" "$AK"
: >"$AK.kb-lock"
echo junk >"$AK.kb-tmp.999999"
run 0 "${A[@]}" add "$D/id_new.pub"
[ -e "$AK.kb-tmp.999999" ] && kb_fail "stale temporary file kept"
# hosts without flock(1): a lock directory whose owner died is taken over
mkdir "$D/noflock"
for t in sh awk cat tail mkdir mv rm chmod dirname sleep printf kill; do
	p=$(command -v "$t") && ln -s "$p" "$D/noflock/$t"
done
sh -c 'exit 0' &
dead=$!
wait "$dead"
mkdir "$AK.kb-lockdir"
echo "$dead" >"$AK.kb-lockdir/pid"
"$T" -a "$D/%u.keys" "$TGT" script remove "$D/id_new.pub" >"$D/script.sh" || kb_fail "script"
env PATH="$D/noflock" sh "$D/script.sh" >"$D/out" 2>"$D/err" </dev/null || kb_fail "script without flock: $(cat "$D/err")"
[ "$(cat "$D/out")" = kb-authkeys:done ] || kb_fail "script output: $(cat "$D/out")"
[ -e "$AK.kb-lockdir" ] && kb_fail "lock directory left"
cmp -s "$AK" "$D/ak.orig" || kb_fail "remove without flock changed other lines"
rm -f "$AK.kb-lock"
kb_pass "stale locks and temporary files of killed editors do not block (flock and lock directory)"

# concurrent edits of one file lose nothing (lock)
cp "$D/ak.orig" "$AK"
pids=()
for k in c1 c2 c3 c4; do
	"$T" "${A[@]}" add "$D/id_$k.pub" "$k" >/dev/null 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || kb_fail "a concurrent add failed"; done
for k in c1 c2 c3 c4; do grep -qF "$(cut -d' ' -f2 "$D/id_$k.pub")" "$AK" || kb_fail "concurrent add lost $k"; done
head -c "$(stat -c %s "$D/ak.orig")" "$AK" | cmp -s - "$D/ak.orig" || kb_fail "concurrent adds changed other lines"
kb_pass "concurrent adds to one file"
# weak algorithms are never negotiated (libssh2 1.10 would offer CBC,
# arcfour and hmac-md5 by default); a server offering only those fails
kb_sshd_start "$D/weak" "Ciphers aes128-cbc" "SetEnv HOME=$D/home" "Match all" "AuthorizedKeysFile $D/%u.keys"
run 15 -k "$SSHD_KNOWN_HOSTS" -i "$D/id_ed25519" "$U@127.0.0.1:$SSHD_PORT" connect
err_has "handshake failed"
kb_pass "no CBC cipher negotiated"
echo "all sshc tests passed"
