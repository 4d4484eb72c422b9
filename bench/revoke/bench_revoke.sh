#!/usr/bin/env bash
# Revocation at scale, side by side with ssh-keygen -k (same run, same serials).
#   bench/revoke/bench_revoke.sh [BUILD_DIR] [N]      (defaults: build 100000)
# Fills the local backend with N random serial revocations (broker revoke
# with batches of 5000 --serial), then measures single revokes, a repeated
# revoke (found in a sealed shard), `broker krl publish`, and ssh-keygen -k
# building a KRL from a spec file with the same serials; checks that both
# KRLs list the same serials.  Wall time and CPU time (user+sys of the
# child) are both shown: on a loaded machine the CPU time is the fair one.
set -euo pipefail
B=$(realpath "${1:-build}")
N=${2:-100000}
D=$(mktemp -d /tmp/kb-bench-revoke.XXXXXX)
trap 'rm -rf "$D"' EXIT
cat >"$D/broker.conf" <<CONF
backend local
local.dir $D/store
audit.log $D/audit/audit.log
CONF
export BROKER_CONFIG=$D/broker.conf HOME=$D BROKER=$B/broker/broker N D
unset SSH_AUTH_SOCK BROKER_BACKEND
exec python3 - <<'PY'
import json, os, random, resource, subprocess, time
B, N, D = os.environ["BROKER"], int(os.environ["N"]), os.environ["D"]

def run(args, **kw):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(args, check=True, stdout=kw.get("stdout", subprocess.DEVNULL), stderr=subprocess.DEVNULL)
    t1 = time.monotonic()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return t1 - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)

def best(args, n=3):
    runs = [run(args) for _ in range(n)]
    return min(r[0] for r in runs), min(r[1] for r in runs)

with open(D + "/ca.pub", "w") as f:
    run([B, "-q", "ca", "init"], stdout=f)
r = random.Random(1)
serials = set()
while len(serials) < N + 20:
    serials.add(r.randrange(1, 2**63))
serials = list(serials)
extra, serials = serials[N:], serials[:N]
fill_w = fill_c = 0.0
for i in range(0, N, 5000):
    args = [B, "-q", "revoke", "--no-agent"]
    for s in serials[i:i + 5000]:
        args += ["--serial", str(s)]
    w, c = run(args)
    fill_w += w; fill_c += c
head = json.loads(subprocess.run([B, "store", "get", "keybroker/revocations"], capture_output=True, check=True).stdout)
shard = subprocess.run([B, "store", "get", "keybroker/revocations/shards/" + head["shards"][0]], capture_output=True,
                       check=True).stdout
shard_n = len(json.loads(shard)["entries"])
single = [run([B, "-q", "revoke", "--no-agent", "--serial", str(s)]) for s in extra[:10]]
repeat = run([B, "-q", "revoke", "--no-agent", "--serial", str(serials[0])])
empty_d = D + "/empty.conf"
open(empty_d, "w").write("backend local\nlocal.dir %s/store2\naudit.log %s/audit2.log\n" % (D, D))
env2 = dict(os.environ, BROKER_CONFIG=empty_d)
subprocess.run([B, "-q", "ca", "init"], env=env2, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def run_env(args):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN); t0 = time.monotonic()
    subprocess.run(args, env=env2, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
base = [run_env([B, "-q", "revoke", "--no-agent", "--serial", str(s)]) for s in extra[10:20]]
pub = best([B, "-q", "krl", "publish", "-f", D + "/ours.krl"])
with open(D + "/spec", "w") as f:
    for s in serials + extra[:10]:
        f.write("serial: %d\n" % s)
kg = best(["ssh-keygen", "-q", "-k", "-f", D + "/keygen.krl", "-s", D + "/ca.pub", D + "/spec"])
def listing(p):
    out = subprocess.run(["ssh-keygen", "-Q", "-l", "-f", p], capture_output=True, text=True).stdout
    return sorted(l for l in out.splitlines() if "serial" in l.lower())
same = listing(D + "/ours.krl") == listing(D + "/keygen.krl") and len(listing(D + "/ours.krl")) == N + 10
avg = lambda xs, k: sum(x[k] for x in xs) / len(xs)
print("revocations recorded          %d (+10 single)" % N)
print("head                          %d shards named, %d entries in the tail" % (len(head["shards"]), len(head["entries"])))
print("one full shard                %d bytes, %d entries" % (len(shard), shard_n))
print("capacity (2000 shards)        about %d serial revocations" % (2000 * shard_n))
print("fill, batches of 5000         wall %.2f s (%.0f/s), cpu %.2f s (%.0f/s)" % (fill_w, N / fill_w, fill_c, N / fill_c))
print("single revoke, empty record   wall %.0f ms, cpu %.0f ms" % (avg(base, 0) * 1e3, avg(base, 1) * 1e3))
print("single revoke at %3dk         wall %.0f ms, cpu %.0f ms" % (N // 1000, avg(single, 0) * 1e3, avg(single, 1) * 1e3))
print("repeat (found in a shard)     wall %.0f ms, cpu %.0f ms" % (repeat[0] * 1e3, repeat[1] * 1e3))
print("broker krl publish            wall %.3f s, cpu %.3f s, %d bytes" % (pub[0], pub[1], os.path.getsize(D + "/ours.krl")))
print("ssh-keygen -k from a spec     wall %.3f s, cpu %.3f s, %d bytes" % (kg[0], kg[1], os.path.getsize(D + "/keygen.krl")))
print("ratio publish / ssh-keygen    wall %.2f, cpu %.2f" % (pub[0] / kg[0], pub[1] / kg[1]))
print("same serials in both KRLs     %s" % ("yes" if same else "NO"))
print("load average                  %.1f" % os.getloadavg()[0])
PY
