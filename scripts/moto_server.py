"""moto's server with two fidelity fixes for the stand-in.

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

usage: moto_server.py [moto_server options]
"""
import io
import sys
import threading

from moto.core.exceptions import ServiceException
from moto.iam import access_control
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


werkzeug_app.DomainDispatcherApplication.__call__ = _keep_raw_form_body
access_control.IAMRequestBase._create_aws_request = _sign_what_was_sent
sts_models.STSBackend.assume_role = _assume_existing_role

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
