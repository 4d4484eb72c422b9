# Helpers for the AWS integration tests.  Source after common.sh.
#   aws_moto_start      moto_server on a free 127.0.0.1 port with SigV4
#                       checking on; exports MOTO_URL, AWS_ACCESS_KEY_ID,
#                       AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL
#   aws_proxy_start     tests/lib/faultproxy.py in front of moto; sets
#                       PROXY_URL and points AWS_ENDPOINT_URL at it
#   aws_proxy_plan P    replaces the proxy's fault plan
#   aws_py              the Python with boto3 (pyenv's python3)
AWS_TESTDIR=$KB_SOURCE_ROOT/tests/aws
AWSSTORE_TOOL=${AWSSTORE_TOOL:-$KB_BUILD_ROOT/tests/aws/awsstore-tool}

# Never let the developer's own AWS settings leak into a test.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_ENDPOINT_URL_SECRETS_MANAGER \
	AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT \
	http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy BROKER_CONFIG
export AWS_EC2_METADATA_DISABLED=true

aws_py() { python3 "$@"; }

aws_moto_start() {
	local moto port dir
	moto=$(command -v moto_server) || kb_fail "moto_server not found on PATH (pip install 'moto[server]')"
	python3 -c 'import boto3' 2>/dev/null || kb_fail "python3 has no boto3 (the pyenv python3 is expected)"
	kb_tmpdir dir
	port=$(kb_free_port)
	"$moto" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
	local pid=$!
	kb_cleanup_add "kill $pid"
	kb_wait_port "$port" 20 || kb_fail "moto_server did not start (log: $(tail -5 "$dir/moto.log"))"
	MOTO_URL=http://127.0.0.1:$port
	local keys
	keys=$(python3 "$AWS_TESTDIR/moto_setup.py" "$MOTO_URL") || kb_fail "could not switch on moto's signature checking"
	read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY <<<"$keys"
	export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY MOTO_URL
	export AWS_REGION=us-east-1
	export AWS_ENDPOINT_URL=$MOTO_URL
	# Proof that the check is on: an unsigned-by-a-known-key call fails.
	if AWS_ACCESS_KEY_ID=AKIAUNKNOWNUNKNOWN00 "$AWSSTORE_TOOL" list >/dev/null 2>&1; then
		kb_fail "moto accepted an unknown access key: signature checking is off"
	fi
}

aws_proxy_start() {
	local dir
	kb_tmpdir dir
	python3 "$KB_SOURCE_ROOT/tests/lib/faultproxy.py" --upstream "$MOTO_URL" --port-file "$dir/port" \
		--plan "${1:-}" >"$dir/proxy.log" 2>&1 &
	local pid=$!
	kb_cleanup_add "kill $pid"
	local i
	for i in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
	[ -s "$dir/port" ] || kb_fail "faultproxy did not start: $(cat "$dir/proxy.log")"
	PROXY_URL=http://127.0.0.1:$(cat "$dir/port")
	export PROXY_URL
	export AWS_ENDPOINT_URL=$PROXY_URL
}

aws_proxy_plan() {
	python3 - "$PROXY_URL" "$1" <<'PY' || kb_fail "cannot set the fault plan"
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/__faultproxy/plan", data=sys.argv[2].encode(), method="POST")).read()
PY
}

aws_proxy_log() {
	python3 - "$PROXY_URL" <<'PY'
import sys, json, urllib.request
for e in json.load(urllib.request.urlopen(sys.argv[1] + "/__faultproxy/log")):
    print(e["action"], e["request"])
PY
}
