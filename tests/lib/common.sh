# Shared helpers for shell integration tests.  Source it:
#   . "$KB_TESTLIB/common.sh"
# Provides: kb_tmpdir, kb_free_port, kb_sshd_start, kb_ssh, kb_fail, kb_pass,
# kb_wait_port, kb_cleanup_add.  Every process started here is stopped on exit.
set -u

# Each test gets a stdin of its own.  Tests run in parallel and would share
# meson's stdin; ssh sets O_NONBLOCK on its stdin (a flag of the shared open
# file), and an ansible starting meanwhile in another test then refuses to
# run ("Ansible requires blocking IO on stdin").
exec </dev/null

KB_CLEANUP=()
kb_cleanup_add() { KB_CLEANUP+=("$*"); }
kb__cleanup() {
	local i
	for ((i = ${#KB_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${KB_CLEANUP[$i]}" >/dev/null 2>&1 || true; done
}
trap kb__cleanup EXIT

kb_fail() { echo "FAIL: $*" >&2; exit 1; }
kb_pass() { echo "ok: $*"; }

# kb_tmpdir VAR: a fresh 0700 directory, removed on exit.
kb_tmpdir() {
	local d
	d=$(mktemp -d "${TMPDIR:-/tmp}/kbtest.XXXXXX") || kb_fail "mktemp"
	chmod 0700 "$d"
	kb_cleanup_add "rm -rf '$d'"
	printf -v "$1" '%s' "$d"
}

kb_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

kb_wait_port() { # PORT [SECONDS]
	local port=$1 tries=$(( ${2:-10} * 20 ))
	while ((tries-- > 0)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	return 1
}

# kb_sshd_start DIR [EXTRA_CONFIG_LINE...]
# Starts sshd on 127.0.0.1 with a fresh ed25519 host key in DIR.
# Sets SSHD_PORT, SSHD_PID, SSHD_LOG, SSHD_KNOWN_HOSTS (a known_hosts file).
kb_sshd_start() {
	local dir=$1
	shift
	mkdir -p "$dir"
	[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519" >/dev/null
	SSHD_PORT=$(kb_free_port)
	SSHD_LOG=$dir/sshd.log
	{
		echo "Port $SSHD_PORT"
		echo "ListenAddress 127.0.0.1"
		echo "HostKey $dir/host_ed25519"
		echo "PidFile $dir/sshd.pid"
		echo "StrictModes no"
		echo "UsePAM no"
		echo "PasswordAuthentication no"
		echo "KbdInteractiveAuthentication no"
		echo "PubkeyAuthentication yes"
		echo "AuthorizedKeysFile $dir/authorized_keys"
		echo "KexAlgorithms curve25519-sha256"
		echo "LogLevel VERBOSE"
		echo "PermitRootLogin prohibit-password"
		for l in "$@"; do echo "$l"; done
	} >"$dir/sshd_config"
	[ "$(id -u)" -eq 0 ] && mkdir -p /run/sshd
	/usr/sbin/sshd -t -f "$dir/sshd_config" || kb_fail "sshd config rejected"
	/usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>"$SSHD_LOG" &
	SSHD_PID=$!
	kb_cleanup_add "kill $SSHD_PID"
	kb_wait_port "$SSHD_PORT" 10 || kb_fail "sshd did not start: $(cat "$SSHD_LOG")"
	SSHD_KNOWN_HOSTS=$dir/known_hosts
	echo "[127.0.0.1]:$SSHD_PORT $(cat "$dir/host_ed25519.pub")" >"$SSHD_KNOWN_HOSTS"
}

# kb_ssh [ssh options...] -- runs ssh against the last started sshd as the
# current user, with no config files and strict host key checking.
kb_ssh() {
	ssh -F /dev/null -p "$SSHD_PORT" -o BatchMode=yes -o StrictHostKeyChecking=yes \
		-o UserKnownHostsFile="$SSHD_KNOWN_HOSTS" -o KexAlgorithms=curve25519-sha256 \
		-o ConnectTimeout=5 "$@"
}
