"""Runs the pinned AWS CLI's own `validate-logs` (awscli.customizations.
cloudtrail.validation) offline on a directory `trailshare pull` wrote, the
way aws-cli's tests run it: with stub S3 and CloudTrail clients. S3 answers
from the directory (a digest's `signature` metadata is its `.sig`), and
CloudTrail's ListPublicKeys from the JSON of `list-public-keys`.

usage: .venv-awscli/bin/python scripts/awscli-validate-offline.py DIR KEYS.json TRAIL_ARN START END
Prints the CLI's own output; exit status as `aws cloudtrail validate-logs`.
"""

import gzip
import io
import json
import os
import sys
import types

from awscli.customizations.cloudtrail import validation

# The class validate-logs catches (the CLI's vendored botocore).
ClientError = validation.ClientError


class Pages:
    def __init__(self, root, prefix, marker):
        keys = []
        for folder, _, names in os.walk(root):
            for name in names:
                key = os.path.relpath(os.path.join(folder, name), root)
                if key.startswith(prefix) and key > (marker or ""):
                    keys.append(key)
        self.keys = sorted(keys)

    def search(self, _expression):
        return iter(self.keys)


class Paginator:
    def __init__(self, root):
        self.root = root

    def paginate(self, Bucket, Prefix="", Marker=None, **_):
        return Pages(self.root, Prefix, Marker)


class S3:
    """The few S3 calls validate-logs makes, answered from the directory."""

    def __init__(self, root):
        self.root = root

    def get_paginator(self, _name):
        return Paginator(self.root)

    def get_object(self, Bucket, Key):
        path = os.path.join(self.root, Key)
        if not os.path.isfile(path):
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": Key}}, "GetObject")
        metadata = {}
        if os.path.isfile(path + ".sig"):
            with open(path + ".sig") as sig:
                metadata = {"signature": sig.read().strip(), "signature-algorithm": "SHA256withRSA"}
        with open(path, "rb") as body:
            return {"Body": io.BytesIO(body.read()), "Metadata": metadata}


class Provider:
    def __init__(self, root):
        self.client = S3(root)

    def get_client(self, _bucket):
        return self.client


class CloudTrail:
    def __init__(self, keys):
        self.keys = keys

    def list_public_keys(self, **_):
        return self.keys


def main():
    root, keys_file, trail_arn, start, end = sys.argv[1:6]
    with open(keys_file) as f:
        keys = json.load(f)
    # The bucket the digests name (the stub serves any bucket from `root`).
    bucket = "bucket"
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".json.gz") and "CloudTrail-Digest" in folder:
                try:
                    with gzip.open(os.path.join(folder, name)) as digest:
                        bucket = json.load(digest)["digestS3Bucket"]
                        break
                except Exception:
                    continue
    command = validation.CloudTrailValidateLogs(session=None)

    def setup_services(self, _globals):
        self._source_region = trail_arn.split(":")[3]
        self.s3_client_provider = Provider(root)
        self.organization_client = None
        self.cloudtrail_client = CloudTrail(keys)

    command.setup_services = types.MethodType(setup_services, command)
    args = types.SimpleNamespace(
        trail_arn=trail_arn, verbose=False, s3_bucket=bucket, s3_prefix=None,
        account_id=None, start_time=start, end_time=end,
    )
    sys.exit(command._run_main(args, types.SimpleNamespace(region=None)))


if __name__ == "__main__":
    main()
