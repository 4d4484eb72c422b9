#!/usr/bin/env bash
# Fault tests: the AWS backend through tests/lib/faultproxy.py in front of
# moto_server (SigV4 checking on).  Under 5xx, throttling, resets, lost
# answers and delays past the deadline every operation either succeeds
# after retries or fails cleanly: no stage moved, no version lost, the
# current value still readable.
. "$KB_TESTLIB/common.sh"
. "$KB_SOURCE_ROOT/tests/aws/lib.sh"
set -o pipefail

kb_tmpdir T
aws_moto_start
aws_proxy_start
export BROKER_AWS_DEADLINE=20 AWS_MAX_ATTEMPTS=4
tool() { "$AWSSTORE_TOOL" "$@"; }
direct() { AWS_ENDPOINT_URL=$MOTO_URL "$AWSSTORE_TOOL" "$@"; }
printf '{"v":1}' >"$T/v1"; printf '{"v":2}' >"$T/v2"; printf '{"v":3}' >"$T/v3"

# state NAME: "<current value>|<versions with stages>" read straight from moto.
state() { echo "$(direct get "$1" 2>/dev/null)|$(direct describe "$1" | awk '$2 != "---" {print $1, $2}' | sort | tr '\n' ' ')"; }
count_action() { aws_proxy_log | grep -c "^$1 .*$2" || true; }

S=keybroker/fault/a
V1=$(tool put $S "$T/v1") || kb_fail "initial put"

# 1. 5xx on reads: retried.
aws_proxy_plan 'GetSecretValue=503*2'
[ "$(tool get $S 2>/dev/null)" = '{"v":1}' ] || kb_fail "get did not survive two 503s"
[ "$(count_action 503 GetSecretValue)" = 2 ] || kb_fail "expected two injected 503s"
kb_pass "get retried after HTTP 503 twice"

# 2. Throttling on writes: retried (the request was not done).
aws_proxy_plan 'PutSecretValue=throttle*2'
V2=$(tool put $S "$T/v2") || kb_fail "put did not survive throttling"
[ "$(direct get $S 2>/dev/null)" = '{"v":2}' ] || kb_fail "value after throttled put"
[ "$(direct describe $S | grep -c "^$V1 --V")" = 1 ] || kb_fail "old version not previous"
kb_pass "put retried after ThrottlingException twice"

# 3. Persistent 5xx: fails with the backend exit code, nothing changed.
before=$(state $S)
aws_proxy_plan 'PutSecretValue=503*0'
AWS_MAX_ATTEMPTS=3 tool put $S "$T/v3" 2>"$T/err" && kb_fail "put succeeded through permanent 503"
rc=$?; [ $rc = 5 ] || kb_fail "exit $rc, expected 5: $(cat "$T/err")"
grep -q "after 3 attempts" "$T/err" || kb_fail "message lacks attempts: $(cat "$T/err")"
[ "$(state $S)" = "$before" ] || kb_fail "state changed after a failed put"
kb_pass "permanent 503: exit 5, state unchanged ($(cat "$T/err"))"

aws_proxy_plan 'DescribeSecret=503*2,ListSecretVersionIds=throttle'
[ "$(tool describe $S | wc -l)" -ge 2 ] || kb_fail "describe did not survive 503s and throttling"
kb_pass "describe retried after 503s and throttling"

# 4. Connection resets before the request reaches AWS: retried.
aws_proxy_plan 'GetSecretValue=reset*2'
[ "$(tool get $S 2>/dev/null)" = '{"v":2}' ] || kb_fail "get did not survive resets"
kb_pass "get retried after two connection resets"

# 5. The answer of a write is lost (done upstream, reset): the retry with
#    the same ClientRequestToken returns the same version, no duplicate.
aws_proxy_plan 'PutSecretValue=reset-after'
nbefore=$(direct describe $S | wc -l)
V3=$(tool put $S "$T/v3") || kb_fail "put did not survive a lost answer"
nafter=$(direct describe $S | wc -l)
[ "$nafter" = $((nbefore + 1)) ] || kb_fail "lost answer made $((nafter - nbefore)) versions"
[ "$(direct describe $S | grep "^$V3 " | awk '{print $2}')" = "C--" ] || kb_fail "$V3 not current"
[ "$(count_action reset-after PutSecretValue)" = 1 ] || kb_fail "fault not injected"
kb_pass "lost PutSecretValue answer: retried idempotently, one new version"

# 6. Same with a caller token across two runs (first run fails for good).
aws_proxy_plan 'PutSecretValue=reset-after,PutSecretValue=503*0'
AWS_MAX_ATTEMPTS=2 tool put $S "$T/v1" current tokA 2>/dev/null && kb_fail "expected a failure"
aws_proxy_plan ''
V4=$(tool put $S "$T/v1" current tokA) || kb_fail "re-run with the same token"
V4b=$(tool put $S "$T/v1" current tokA) || kb_fail "second re-run"
[ "$V4" = "$V4b" ] || kb_fail "same token gave $V4 and $V4b"
[ "$(direct describe $S | grep -c "^$V4 ")" = 1 ] || kb_fail "token version missing"
tool put $S "$T/v2" current tokA 2>"$T/err" && kb_fail "same token, other value accepted"
grep -q "idempotency token" "$T/err" || kb_fail "conflict message: $(cat "$T/err")"
kb_pass "re-run with the same idempotency token converges; another value is a conflict"

# 7. A request delayed past the deadline: fails with a timeout, and the
#    state is whole (old or new value, exactly one current).
aws_proxy_plan 'PutSecretValue=delay:4000'
start=$(date +%s%N)
BROKER_AWS_DEADLINE=2 tool put $S "$T/v2" current tokB 2>"$T/err" && kb_fail "put beat a 4 s delay with a 2 s deadline"
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc = 5 ] || kb_fail "exit $rc after deadline: $(cat "$T/err")"
[ $ms -lt 3500 ] || kb_fail "deadline of 2 s not kept: $ms ms"
[ -n "$(direct get $S 2>/dev/null)" ] || kb_fail "current unreadable after timeout"
sleep 3 # let the delayed request land
[ "$(direct describe $S | grep -c ' C')" = 1 ] || kb_fail "not exactly one current version"
aws_proxy_plan ''
V5=$(tool put $S "$T/v2" current tokB) || kb_fail "re-run after timeout"
[ "$(direct get $S 2>/dev/null)" = '{"v":2}' ] || kb_fail "value after re-run"
[ "$(direct describe $S | grep -c "^$V5 ")" = 1 ] || kb_fail "re-run version"
kb_pass "delay past the deadline: exit 5 in $ms ms, state whole, re-run converges"

# 8. Promote with a lost answer: the retry re-reads the stages and converges.
P=$(tool put $S "$T/v3" pending) || kb_fail "pending put"
cur=$(direct describe $S | awk '$2 ~ /^C/ {print $1}')
aws_proxy_plan 'UpdateSecretVersionStage=reset-after'
tool promote $S "$P" || kb_fail "promote with a lost answer"
[ "$(direct describe $S | grep "^$P " | awk '{print $2}')" = "C--" ] || kb_fail "promoted version: $(direct describe $S)"
[ "$(direct describe $S | grep "^$cur " | awk '{print $2}')" = "--V" ] || kb_fail "old current not previous"
kb_pass "promote with a lost answer converges (current, pending removed, previous set)"

# 9. Promote under permanent 5xx: fails, no stage moved.
P2=$(tool put $S "$T/v1" pending) || kb_fail "pending put 2"
before=$(state $S)
aws_proxy_plan 'UpdateSecretVersionStage=503*0'
AWS_MAX_ATTEMPTS=2 tool promote $S "$P2" 2>"$T/err" && kb_fail "promote through permanent 503"
[ $? = 5 ] || kb_fail "promote exit: $(cat "$T/err")"
[ "$(state $S)" = "$before" ] || kb_fail "stages moved by a failed promote: $(state $S) vs $before"
kb_pass "promote under permanent 503: exit 5, no stage moved"

# 10. Hanging backend: the deadline holds for reads.
aws_proxy_plan 'GetSecretValue=hang*0'
start=$(date +%s%N)
BROKER_AWS_DEADLINE=2 tool get $S >/dev/null 2>"$T/err" && kb_fail "get from a hanging backend"
rc=$?; ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc = 5 ] && [ $ms -lt 3500 ] || kb_fail "hang: exit $rc after $ms ms: $(cat "$T/err")"
kb_pass "hanging backend: exit 5 after $ms ms"

# 11. Pagination with a throttled second page; delete with a lost answer.
python3 - "$MOTO_URL" <<'PY' || kb_fail "boto3 bulk create"
import sys, boto3, os
sm = boto3.client("secretsmanager", endpoint_url=sys.argv[1], region_name="us-east-1")
for i in range(130):
    sm.create_secret(Name="keybroker/page/s%03d" % i, SecretString="x")
sm.create_secret(Name="keybroker/pageX", SecretString="x")
PY
aws_proxy_plan 'ListSecrets=pass,ListSecrets=throttle'
n=$(tool list keybroker/page/ | wc -l)
[ "$n" = 130 ] || kb_fail "listed $n of 130 secrets"
[ "$(tool list keybroker/page/ | head -1)" = keybroker/page/s000 ] || kb_fail "list not sorted"
[ "$(count_action throttle ListSecrets)" = 1 ] || kb_fail "second page not throttled"
kb_pass "ListSecrets: 130 names over pages, throttled page retried"
aws_proxy_plan 'DeleteSecret=reset-after'
tool rm keybroker/page/s007 || kb_fail "rm with a lost answer"
direct get keybroker/page/s007 >/dev/null 2>&1 && kb_fail "secret still there"
kb_pass "DeleteSecret with a lost answer"
exit 0
