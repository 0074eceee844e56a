"""moto's server with fidelity fixes for the stand-in (numbered below).

1. SigV4 checks of form posts. moto (5.2.5) verifies the signature of a form-encoded request (IAM, STS)
against its own re-encoding of the parsed form, which writes a space as
`+`. The Rust SDK writes it as `%20` (equally valid), so any IAM call with
a space in a value (a role description, a policy naming a key prefix with a
space) is refused with SignatureDoesNotMatch. Here the signature is checked
against the body bytes that were actually sent, as AWS does. Nothing else
changes.

2. AssumeRole of a role that does not exist. moto issues credentials for any
role ARN ("the role does not need to exist"); AWS refuses with AccessDenied.
Revocation deletes the role, so its tests need AWS's answer.

3. Dates: conditions on aws:CurrentTime. moto skips condition operators it
does not know, so a share's expiry (an Allow with DateLessThan aws:CurrentTime
in the trust, a Deny with DateGreaterThanEquals aws:CurrentTime in the inline
policy) would allow assuming for ever and deny every read at once. Here they
compare with the time of the request, as AWS does; and a statement whose
conditions do not hold does not apply (moto answers an explicit deny, which
would turn every conditional Deny into an unconditional one). Other date keys
(aws:TokenIssueTime) stay as moto has them: not judged, so the session deny
of a revocation still denies every session here (the evaluator judges it).

usage: moto_server.py [moto_server options]
"""
import datetime
import io
import json
import operator
import re
import sys
import threading

from moto.core.exceptions import ServiceException
from moto.iam import access_control, policy_conditions
from moto.iam.models import iam_backends
from moto.moto_server import werkzeug_app
from moto.sts import models as sts_models

_request = threading.local()
_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


def _keep_raw_form_body(self, environ, start_response):
    _request.body = b""
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        _request.body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(_request.body)
    return _dispatch(self, environ, start_response)


_create_aws_request = access_control.IAMRequestBase._create_aws_request


def _sign_what_was_sent(self):
    request = _create_aws_request(self)
    sent = getattr(_request, "body", b"")
    if not self._body and sent:
        request.data = sent
    return request


class _AccessDenied(ServiceException):
    code = "AccessDenied"


_assume_role = sts_models.STSBackend.assume_role


def _assume_existing_role(self, region_name, role_session_name, role_arn, *args, **kwargs):
    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    partition = role_arn.split(":")[1] if role_arn.count(":") >= 5 else "aws"
    try:
        iam_backends[account][partition].get_role_by_arn(role_arn)
    except Exception:
        raise _AccessDenied(f"Not authorized to perform sts:AssumeRole on resource: {role_arn}")
    return _assume_role(self, region_name, role_session_name, role_arn, *args, **kwargs)


_DATE_OPERATORS = {
    "DateEquals": operator.eq,
    "DateNotEquals": operator.ne,
    "DateLessThan": operator.lt,
    "DateLessThanEquals": operator.le,
    "DateGreaterThan": operator.gt,
    "DateGreaterThanEquals": operator.ge,
}
_verify_condition = policy_conditions.TrustCondition.verify_condition


def _date(value):
    try:
        return datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
    except ValueError:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _verify_current_time(self, actual_values):
    compare = _DATE_OPERATORS.get(self._condition)
    if compare is None:
        return _verify_condition(self, actual_values)
    now = datetime.datetime.now(datetime.timezone.utc)
    for key, expected in zip(self._expected_value_source, self._expected_value):
        if key.lower() != "aws:currenttime":
            continue
        values = expected if isinstance(expected, list) else [expected]
        if not any(compare(now, _date(value)) for value in values):
            return False
    return True


_statement_permits = access_control.IAMPolicyStatement.is_action_permitted


def _applies_only_when_its_conditions_hold(self, action, resource="*", principal=None, incoming_condition_values=None):
    if not self._check_conditions(incoming_condition_values):
        return access_control.PermissionResult.NEUTRAL
    if "NotResource" in self._statement and "Resource" not in self._statement:
        return _not_resource(self, action, resource)
    return _statement_permits(self, action, resource, principal, incoming_condition_values)


def _iam_wildcard(pattern, text):
    """IAM's match: `*` any run of characters, `?` exactly one, the rest literal."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _not_resource(self, action, resource):
    # 6. NotResource. moto reads a statement without "Resource" as a trust
    # policy's and permits it, whatever its effect: a share role's
    # `Deny s3:GetObject NotResource [CloudTrail's folders]` would allow
    # every read. Here it applies to every resource outside the list, as
    # AWS does (an identity policy's statement, so no Principal).
    if "NotAction" in self._statement:
        concerned = not self._check_element_matches("NotAction", action)
    else:
        concerned = self._check_element_matches("Action", action)
    patterns = self._statement["NotResource"]
    patterns = patterns if isinstance(patterns, list) else [patterns]
    if not concerned or any(_iam_wildcard(p, resource) for p in patterns):
        return access_control.PermissionResult.NEUTRAL
    if self._statement.get("Effect") == "Allow":
        return access_control.PermissionResult.PERMITTED
    return access_control.PermissionResult.DENIED


werkzeug_app.DomainDispatcherApplication.__call__ = _keep_raw_form_body
policy_conditions.TrustCondition.verify_condition = _verify_current_time
access_control.IAMPolicyStatement.is_action_permitted = _applies_only_when_its_conditions_hold
access_control.IAMRequestBase._create_aws_request = _sign_what_was_sent
sts_models.STSBackend.assume_role = _assume_existing_role



# 4. SQS across accounts. moto looks every queue up in the *caller's*
# account; AWS finds it by its URL (or QueueOwnerAWSAccountId), so a
# forwarder in A can send to a grantee's queue in B that allows it.
from moto.sqs import responses as sqs_responses
from moto.sqs.models import sqs_backends


def _queue_owner(self):
    try:
        url = self._get_param("QueueUrl") or ""
    except Exception:
        url = ""
    parts = url.rstrip("/").split("/")
    if url.startswith(("http://", "https://")) and len(parts) >= 2:
        if len(parts[-2]) == 12 and parts[-2].isdigit():
            return parts[-2]
    try:
        owner = self._get_param("QueueOwnerAWSAccountId")
    except Exception:
        owner = None
    return owner or self.current_account


sqs_responses.SQSResponse.sqs_backend = property(
    lambda self: sqs_backends[_queue_owner(self)][self.region]
)

# 5. SNS resources. moto authorizes every SNS action against resource "*",
# so a policy that allows sns:Publish on one topic (least privilege, as
# the template grants) is denied; AWS authorizes against the topic's ARN.
from moto.sns import responses as sns_responses


def _sns_resource(self):
    try:
        return self._get_param("TopicArn") or "*"
    except Exception:
        return "*"


sns_responses.SNSResponse._determine_resource = _sns_resource

# 7. Session tags and policy variables (organization shares). moto drops
# AssumeRole's `Tags`, so no session has a principal tag; it evaluates
# identity policies with no request context, so `${aws:PrincipalTag/…}`
# in a resource never matches (read as a regular expression, `$` ends the
# text) and a `StringEquals aws:PrincipalTag/…` Deny applies to everyone.
# Here, as AWS does: a session keeps the tags it was issued with
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html),
# and the identity policies of every request are judged with the
# principal's context: `aws:PrincipalAccount` and, for a session,
# `aws:PrincipalTag/<key>` (keys in any case), substituted for their
# `${…}` variables in Resource, NotResource and condition values, and
# supplied to StringEquals conditions. A variable the request has no value
# for matches nothing ("Policy variables with no value",
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html).
# A condition on a key the request lacks still counts as met (moto's
# rule), so an untagged session is denied by the deny of excluded accounts.
# Trust policies stay as moto has them (not judged across accounts, no
# aws:RequestTag, aws:TagKeys or aws:PrincipalOrgID): who may get a session
# with which tag is the evaluator's (tests/iam-eval). Proven, and shown to
# fail without this fix, by tests/org_share/session_tags.rs.
# What an "allowed" here does NOT prove: conditions other than StringEquals
# and the date operators are still skipped, and a key the request lacks
# counts as met, so `s3:prefix` (ListBucket only under a member's folders)
# and `kms:ViaService` are not judged here; their denials are the
# evaluator's (tests/org_share/evaluator.rs, tests/iam-eval).
from moto.sts import responses as sts_responses
from moto.sts.models import sts_backends


class _Context(dict):
    """Condition keys are case-insensitive in IAM."""

    def __init__(self, values):
        super().__init__({key.lower(): value for key, value in values.items()})

    def __contains__(self, key):
        return isinstance(key, str) and super().__contains__(key.lower())

    def __getitem__(self, key):
        return super().__getitem__(key.lower())


_token_assume_role = sts_responses.TokenResponse.assume_role
_backend_assume_role = sts_models.STSBackend.assume_role


def _assume_role_with_tags(self):
    tags = self._get_param("Tags") or []
    _request.session_tags = {tag["Key"]: tag["Value"] for tag in tags}
    try:
        return _token_assume_role(self)
    finally:
        _request.session_tags = {}


def _session_keeps_its_tags(self, *args, **kwargs):
    session = _backend_assume_role(self, *args, **kwargs)
    session.session_tags = dict(getattr(_request, "session_tags", {}) or {})
    return session


def _principal_context(access_key):
    values = {"aws:PrincipalAccount": access_key.account_id}
    if isinstance(access_key, access_control.AssumedRoleAccessKey):
        for session in sts_backends[access_key.account_id][access_key.partition].assumed_roles:
            if session.access_key_id == access_key._access_key_id:
                for key, value in getattr(session, "session_tags", {}).items():
                    values[f"aws:PrincipalTag/{key}"] = value
    return _Context(values)


_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _resolve(text, context):
    """`text` with its variables replaced, or None if one has no value."""
    missing = []

    def value(match):
        key = match.group(1).strip()
        if key in context:
            return context[key]
        missing.append(key)
        return ""

    resolved = _VARIABLE.sub(value, text)
    return None if missing else resolved


def _resolve_all(values, context):
    if "${" not in json.dumps(values):
        return values
    values = values if isinstance(values, list) else [values]
    resolved = (_resolve(v, context) if isinstance(v, str) else v for v in values)
    return [v for v in resolved if v is not None]


def _resolved_statement(statement, context):
    statement = dict(statement)
    for element in ("Resource", "NotResource"):
        if element in statement:
            statement[element] = _resolve_all(statement[element], context)
    if "Condition" in statement:
        statement["Condition"] = {
            operator_name: {key: _resolve_all(values, context) for key, values in keys.items()}
            for operator_name, keys in statement["Condition"].items()
        }
    return statement


def _resolved_policy(document, context):
    statements = document["Statement"]
    statements = statements if isinstance(statements, list) else [statements]
    resolved = [_resolved_statement(s, context) for s in statements]
    # A Resource left with no entry matches nothing (moto reads an empty
    # one as a trust policy's statement and permits it).
    kept = [s for s in resolved if "Resource" not in s or s["Resource"]]
    return {**document, "Statement": kept}


def _check_with_principal_context(self, resource):
    if self._action == "sts:GetCallerIdentity":
        return
    context = _principal_context(self._access_key)
    permitted = False
    for policy in self._access_key.collect_policies():
        iam_policy = access_control.IAMPolicy(policy)
        if "${" in json.dumps(iam_policy._policy_json):
            iam_policy._policy_json = _resolved_policy(iam_policy._policy_json, context)
        result = iam_policy.is_action_permitted(self._action, resource, None, context)
        if result == access_control.PermissionResult.DENIED:
            self._raise_access_denied()
        elif result == access_control.PermissionResult.PERMITTED:
            permitted = True
    if self._is_assuming_role_operation(resource):
        permitted = permitted and self._check_role_trust_relationship(resource)
    if not permitted:
        self._raise_access_denied()


sts_responses.TokenResponse.assume_role = _assume_role_with_tags
sts_models.STSBackend.assume_role = _session_keeps_its_tags
access_control.IAMRequestBase.check_action_permitted = _check_with_principal_context

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
