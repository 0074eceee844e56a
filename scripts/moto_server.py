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

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
