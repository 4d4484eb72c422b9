#!/usr/bin/env bash
# broker-agent's command line against stock ssh-agent's: same output lines,
# same socket conventions (0700 directory, 0600 socket, removed on exit),
# -k, -a, -D, csh/sh formats, the command form, usage errors.
. "$KB_TESTLIB/common.sh"
kb_tmpdir T
A=$BROKER_AGENT

norm() { sed -E 's#/[^ ;]*ssh-[A-Za-z0-9]+/agent\.[0-9]+#SOCK#g; s#[0-9]{2,}#N#g'; }
wait_gone() { for _ in $(seq 50); do [ -e "$1" ] || return 0; sleep 0.1; done; return 1; }

for fmt in -s -c; do
	out_b=$("$A" $fmt) || kb_fail "broker-agent $fmt failed"
	out_s=$(ssh-agent $fmt) || kb_fail "ssh-agent $fmt failed"
	pid_b=$(sed -nE 's/^echo Agent pid ([0-9]+);$/\1/p' <<<"$out_b")
	pid_s=$(sed -nE 's/^echo Agent pid ([0-9]+);$/\1/p' <<<"$out_s")
	kb_cleanup_add "kill $pid_b $pid_s"
	[ "$(norm <<<"$out_b")" = "$(norm <<<"$out_s")" ] ||
		kb_fail "$fmt output differs:\n$out_b\n--- stock:\n$out_s"
	sock=$(sed -nE 's/^(SSH_AUTH_SOCK=|setenv SSH_AUTH_SOCK )([^;]*);.*/\2/p' <<<"$out_b" | head -n1)
	[ -S "$sock" ] || kb_fail "no socket at $sock"
	[ "$(stat -c %a "$(dirname "$sock")")" = 700 ] || kb_fail "socket directory not 0700"
	[ "$(stat -c %a "$sock")" = 600 ] || kb_fail "socket not 0600"
	case $(basename "$sock") in agent.*) ;; *) kb_fail "socket name $sock";; esac
	# -k prints the same as ssh-agent -k and removes socket and directory.
	kout=$(SSH_AGENT_PID=$pid_b "$A" $fmt -k) || kb_fail "-k failed"
	[ "$(norm <<<"$kout")" = "$(norm <<<"$(SSH_AGENT_PID=$pid_s ssh-agent $fmt -k)")" ] || kb_fail "-k output: $kout"
	wait_gone "$sock" || kb_fail "socket $sock left behind"
	wait_gone "$(dirname "$sock")" || kb_fail "socket directory left behind"
done
kb_pass "-s/-c/-k output as ssh-agent, socket modes and cleanup"

# A csh-like SHELL selects the csh format.
out=$(SHELL=/bin/tcsh "$A")
kill "$(sed -nE 's/^echo Agent pid ([0-9]+);$/\1/p' <<<"$out")"
grep -q '^setenv SSH_AUTH_SOCK ' <<<"$out" || kb_fail "SHELL=csh did not select csh output"

# -k without SSH_AGENT_PID, bad flags, bad -t / -E: same errors and status.
for args in "-k" "-z" "-t bogus" "-E sha3" "-c -s" "-d -D" "-s true"; do
	b=$(env -u SSH_AGENT_PID "$A" $args 2>&1 </dev/null); rb=$?
	s=$(env -u SSH_AGENT_PID ssh-agent $args 2>&1 </dev/null); rs=$?
	[ $rb -eq $rs ] || kb_fail "'$args': exit $rb, ssh-agent exits $rs"
	[ $rb -ne 0 ] || kb_fail "'$args' accepted"
	case $args in
	-k | "-E sha3") [ "$b" = "$s" ] || kb_fail "'$args' message: $b (stock: $s)" ;;
	*) grep -q "^usage: broker-agent \[-c | -s\] \[-Dd\]" <<<"$b" || kb_fail "'$args': no usage: $b" ;;
	esac
done
kb_pass "usage errors as ssh-agent"

# -a: socket where asked, 0600; exists already -> error.
eval "$("$A" -s -a "$T/sock")" >/dev/null
[ "$SSH_AUTH_SOCK" = "$T/sock" ] && [ "$(stat -c %a "$T/sock")" = 600 ] || kb_fail "-a socket"
"$A" -a "$T/sock" >/dev/null 2>&1 && kb_fail "binding over a live socket succeeded"
kill "$SSH_AGENT_PID"
wait_gone "$T/sock" || kb_fail "-a socket not removed on SIGTERM"
kb_pass "-a bind address"

# -D: foreground, two lines, SIGINT ends it and removes the socket.
"$A" -D -a "$T/fg" >"$T/fg.out" 2>&1 &
fg=$!
for _ in $(seq 50); do [ -S "$T/fg" ] && break; sleep 0.1; done
SSH_AUTH_SOCK=$T/fg ssh-add -l >/dev/null 2>&1; [ $? -eq 1 ] || kb_fail "-D agent not answering"
grep -qx "SSH_AUTH_SOCK=$T/fg; export SSH_AUTH_SOCK;" "$T/fg.out" || kb_fail "-D output: $(cat "$T/fg.out")"
grep -qx "echo Agent pid $fg;" "$T/fg.out" || kb_fail "-D pid line: $(cat "$T/fg.out")"
kill -INT $fg
wait $fg
wait_gone "$T/fg" || kb_fail "-D socket left after SIGINT"
kb_pass "-D foreground"

# Command form: environment for the command; the agent exits with it.
out=$("$A" sh -c 'echo "$SSH_AUTH_SOCK $SSH_AGENT_PID"; ssh-add -l; echo "rc=$?"')
read -r sock apid <<<"$(head -n1 <<<"$out")"
grep -q '^rc=1$' <<<"$out" || kb_fail "command could not reach the agent: $out"
for _ in $(seq 50); do kill -0 "$apid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$apid" 2>/dev/null && kb_fail "agent $apid still running after its command exited"
wait_gone "$sock" || kb_fail "command-form socket left behind"
"$A" false && kb_fail "command exit status not passed on"
kb_pass "command form"
