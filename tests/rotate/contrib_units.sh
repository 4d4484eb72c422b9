#!/usr/bin/env bash
# contrib/systemd units and the cron example: systemd-analyze verify finds
# nothing to say about the units (with ExecStart pointing at this build's
# broker), and the commands they run are accepted by this broker: the
# rotation (as --dry-run on an empty store) and the KRL publish.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/rotate/lib.sh"

kb_tmpdir D
rot_setup "$D"
U=$KB_SOURCE_ROOT/contrib/systemd
: >"$D/known_hosts"
"$BROKER" ca init >/dev/null 2>&1 || kb_fail "ca init"

if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$D/units"
	for u in "$U"/keybroker-*.service "$U"/keybroker-*.timer; do
		sed "s|/usr/bin/broker|$BROKER|" "$u" >"$D/units/$(basename "$u")"
	done
	systemd-analyze verify --man=no "$D"/units/* >"$D/verify.out" 2>&1 || kb_fail "systemd-analyze verify: $(cat "$D/verify.out")"
	[ ! -s "$D/verify.out" ] || kb_fail "systemd-analyze verify warns: $(cat "$D/verify.out")"
	# Make sure it would have complained about a broken unit.
	sed 's/^Type=oneshot/Type=oneshot\nNoSuchSetting=1/' "$D/units/keybroker-rotate.service" >"$D/units/broken.service"
	systemd-analyze verify --man=no "$D/units/broken.service" >"$D/verify.out" 2>&1 || true
	grep -q NoSuchSetting "$D/verify.out" || kb_fail "systemd-analyze verify does not catch a bad unit here"
	kb_pass "systemd-analyze verify: the units are clean"
else
	echo "# systemd-analyze not installed: unit verification skipped"
fi

# The ExecStart command lines (continuations joined), run for real.
execstart() {
	awk '/^ExecStart=/{s=substr($0,11); while (s ~ /\\$/) {sub(/\\$/,"",s); getline l; s=s l}; print s}' "$1"
}
ROT=$(execstart "$U/keybroker-rotate.service")
[ -n "$ROT" ] || kb_fail "no ExecStart in keybroker-rotate.service"
ROT=${ROT//\$\$/\$} # systemd's escape for a literal $
ROT=${ROT//\/usr\/bin\/broker/$BROKER}
ROT=${ROT//\/etc\/keybroker\/known_hosts/$D/known_hosts}
eval "$ROT --dry-run" >"$D/out" 2>&1 || kb_fail "the rotate unit's command fails: $ROT: $(cat "$D/out")"
KRL=$(execstart "$U/keybroker-krl-publish.service")
KRL=${KRL//\/usr\/bin\/broker/$BROKER}
KRL=${KRL//\/var\/lib\/keybroker\/revoked.krl/$D/revoked.krl}
eval "$KRL" >"$D/out" 2>&1 || kb_fail "the krl unit's command fails: $KRL: $(cat "$D/out")"
[ -s "$D/revoked.krl" ] || kb_fail "krl publish wrote nothing"
kb_pass "the units' commands run with this broker"

# The cron example: every broker command line is accepted (dry run).
C=$KB_SOURCE_ROOT/contrib/cron/keybroker.cron
n=0
while read -r line; do
	cmd=${line#* * * * * root  }
	[ "$cmd" != "$line" ] || cmd=$(echo "$line" | sed -E 's/^([^ ]+ +){5}root +//')
	cmd=${cmd//\/etc\/keybroker\/known_hosts/$D/known_hosts}
	cmd=${cmd//\/var\/lib\/keybroker\/revoked.krl/$D/revoked.krl}
	case $cmd in *" rotate "*) cmd="$cmd --dry-run" ;; esac
	PATH=$(dirname "$BROKER"):$PATH eval "$cmd" >"$D/out" 2>&1 || kb_fail "cron line fails: $cmd: $(cat "$D/out")"
	n=$((n + 1))
done < <(grep -E '^[0-9*/]' "$C")
[ "$n" = 3 ] || kb_fail "expected 3 cron jobs, found $n"
kb_pass "the cron example's commands run with this broker"
