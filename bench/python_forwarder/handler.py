"""The forwarder a platform team might write instead, in Python with boto3,
for `make bench` to compare cold starts with trailshare's (bench-scale runs
it under the real Lambda runtime interface client, awslambdaric).

It does what trailshare's forwarder does for a tag share, and reads the
shares the same way: one IAM ListRoles on the share path (per 1,000 roles),
each route read from the role's description (shared/src/route.rs), cached
for SHARE_CACHE_SECONDS. Then, for each S3 event record: the owning
account from the CloudTrail key, and if a share covers it, the tag
trailshare:account=<account>, keeping the object's other tags.

Deliberately a plain handler: clients built at import (as users do), the
share list read on the first event. Not handled, because the bench does not
need them: SQS/SNS/EventBridge envelopes, copy shares, routes kept in tags.
"""
import json
import os
import re
import time
import urllib.parse

import boto3
from botocore.config import Config

TRAIL_BUCKET = os.environ["TRAIL_BUCKET"]
TRAIL_PREFIX = os.environ.get("TRAIL_PREFIX") or None
SHARE_ROLE_PATH = os.environ.get("SHARE_ROLE_PATH") or "/trailshare/"
CACHE_SECONDS = int(os.environ.get("SHARE_CACHE_SECONDS") or "60")
ROUTE_MARK = "trailshare route v1 "
ACCOUNT_TAG = "trailshare:account"
# [<prefix>/]AWSLogs/[<o-org>/]<acct>/CloudTrail[-Digest|-Insight]/<region>/<y>/<m>/<d>/<acct>_...
KEY = re.compile(
    r"^(?:(?P<prefix>.+)/)?AWSLogs/(?:o-[a-z0-9]{10,32}/)?(?P<account>\d{12})/"
    r"CloudTrail(?:-Digest|-Insight)?/[a-z0-9-]+/\d{4}/\d{2}/\d{2}/(?P<file_account>\d{12})_[^/]+$"
)

iam = boto3.client("iam")
# A local endpoint (the stand-in) needs path-style addressing.
s3 = boto3.client(
    "s3", config=Config(s3={"addressing_style": "path"}) if os.environ.get("AWS_ENDPOINT_URL") else None
)
_routes = None
_routes_at = 0.0


def routes():
    """Every share's route: one ListRoles call per 1,000 roles."""
    global _routes, _routes_at
    if _routes is not None and time.monotonic() - _routes_at < CACHE_SECONDS:
        return _routes
    found = []
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=SHARE_ROLE_PATH, PaginationConfig={"PageSize": 1000}):
        for role in page["Roles"]:
            description = role.get("Description") or ""
            if role["Path"] == SHARE_ROLE_PATH and description.startswith(ROUTE_MARK):
                found.append(json.loads(description[len(ROUTE_MARK):]))
    _routes, _routes_at = found, time.monotonic()
    return found


def tag(bucket, key, account):
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    if {"Key": ACCOUNT_TAG, "Value": account} in tags:
        return "already tagged"
    tags = [t for t in tags if t["Key"] != ACCOUNT_TAG] + [{"Key": ACCOUNT_TAG, "Value": account}]
    s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": tags})
    return f"tagged {ACCOUNT_TAG}={account}"


def lambda_handler(event, context):
    results = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        match = KEY.match(key)
        if bucket != TRAIL_BUCKET or not match or match["prefix"] != TRAIL_PREFIX:
            results.append({"key": key, "outcome": "skipped"})
            continue
        account = match["account"]
        if match["file_account"] != account:
            results.append({"key": key, "outcome": "skipped"})
            continue
        covering = [
            r for r in routes()
            if (account in r["l"] or "*" in r["l"]) and r["d"]["mode"] == "tag"
        ]
        if not covering:
            results.append({"key": key, "outcome": "skipped"})
            continue
        results.append({"key": key, "outcome": "processed", "action": tag(bucket, key, account)})
    print(json.dumps({"event": "summary", "objects": results}))
    return {"objects": results}
