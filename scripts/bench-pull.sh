#!/usr/bin/env bash
# make bench, part 3: `trailshare pull` against `aws s3 sync` on the same
# 2,000 small log files of one account/region/day, in the same run, on the
# local stand-in. Both are bounded by moto's request rate (one Python
# process), so requests per file and the ratio are the figures that carry
# over to S3; files/s are this machine's.
# usage: scripts/bench-pull.sh [TRAILSHARE_BINARY] [FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/trailshare}
files=${2:-2000}
scripts/venv.sh .venv-awscli requirements/awscli.txt
tmp=$(mktemp -d)
export MOTO_STATE_DIR=$tmp/moto
trap 'scripts/moto.sh stop; rm -rf "$tmp"' EXIT
url=$(scripts/moto.sh start --watch $$)
log=$MOTO_STATE_DIR/log
# Signature checks stay off: this measures transfer, not IAM.
export AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_CONFIG_FILE=$tmp/aws-config AWS_SHARED_CREDENTIALS_FILE=$tmp/none AWS_EC2_METADATA_DISABLED=true
printf '[default]\ns3 =\n  addressing_style = path\n' >"$AWS_CONFIG_FILE"
aws=.venv-awscli/bin/aws
account=222222222222
day=AWSLogs/$account/CloudTrail/us-east-1/2024/05/01
.venv/bin/python - "$tmp/src/$day" "$files" "$account" <<'PY'
import gzip, json, os, sys
out, n, account = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
for i in range(n):
    record = {"eventVersion": "1.09", "eventTime": "2024-05-01T%02d:%02d:%02dZ" % (i // 3600 % 24, i // 60 % 60, i % 60),
              "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "recipientAccountId": account, "requestID": str(i)}
    name = "%s_CloudTrail_us-east-1_20240501T%04dZ_%06d.json.gz" % (account, i % 2400, i)
    with open(os.path.join(out, name), "wb") as f:
        f.write(gzip.compress(json.dumps({"Records": [record] * 8}).encode()))
PY
$aws s3 mb s3://bench-trail >/dev/null
$aws s3 sync --quiet "$tmp/src" s3://bench-trail/
requests() { grep -c '"[A-Z]* /bench-trail' "$log" || true; }
now() { date +%s.%N; }
report() { # name files seconds requests
  awk -v n="$1" -v f="$2" -v s="$3" -v r="$4" \
    'BEGIN { printf "%-18s %5d files in %6.2f s: %7.1f files/s, %.3f requests/file\n", n, f, s, f / s, r / f }'
}
count() { find "$1" -type f | wc -l; }

r0=$(requests); t0=$(now)
"$bin" pull --bucket bench-trail --accounts $account --regions us-east-1 \
  --since 2024-05-01 --until 2024-05-01 --to "$tmp/pull"
t1=$(now); r1=$(requests)
$aws s3 sync --quiet "s3://bench-trail/$day/" "$tmp/sync/$day/"
t2=$(now); r2=$(requests)
# A rerun finds every file present: listing only.
"$bin" pull --bucket bench-trail --accounts $account --regions us-east-1 \
  --since 2024-05-01 --until 2024-05-01 --to "$tmp/pull" 2>/dev/null
t3=$(now); r3=$(requests)

pulled=$(count "$tmp/pull") synced=$(count "$tmp/sync")
[ "$pulled" -eq "$files" ] && [ "$synced" -eq "$files" ] || { echo "bench: pulled $pulled, synced $synced of $files" >&2; exit 1; }
diff -r "$tmp/pull" "$tmp/sync" >/dev/null || { echo "bench: pull and sync differ" >&2; exit 1; }
echo "pull vs aws s3 sync ($(${aws} --version 2>&1 | cut -d' ' -f1)), $files files of $(find "$tmp/src" -type f -printf "%s\n" | awk "{ s += \$1 } END { printf \"%.0f KiB\", s / 1024 }"), moto at ~$(awk -v r=$((r1 - r0)) -v s="$(echo "$t1 - $t0" | bc)" 'BEGIN{printf "%.0f", r/s}') requests/s:"
report "trailshare" "$files" "$(echo "$t1 - $t0" | bc)" $((r1 - r0))
report "aws s3 sync" "$files" "$(echo "$t2 - $t1" | bc)" $((r2 - r1))
report "rerun (all there)" "$files" "$(echo "$t3 - $t2" | bc)" $((r3 - r2))
awk -v a="$(echo "$t1 - $t0" | bc)" -v b="$(echo "$t2 - $t1" | bc)" 'BEGIN { printf "trailshare pull takes %.2fx the time of aws s3 sync\n", a / b }'
