"""SigV4 verification for an engine that is reachable from other machines.

On loopback the engine accepts any request (boto3, the AWS CLI and the ``kubernetes`` client sign
with whatever credentials they have, and nothing checks them), as the issue asks. An engine bound to
another address runs commands for whoever can reach it, so ``batch-eks local serve --allow-remote``
needs credentials, and :class:`SigV4Middleware` then checks every request before any route runs:

- ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` (boto3, the AWS
  CLI): the signature is recomputed with botocore's own :class:`~botocore.auth.SigV4Auth` over the request
  as received (method, raw path, query, the signed headers, the body) and compared.
- ``Authorization: Bearer k8s-aws-v1.<base64url presigned STS URL>`` (the EKS token that
  ``aws eks get-token`` and the Amazon provider give the ``kubernetes`` client): the presigned URL's
  signature is recomputed with :class:`~botocore.auth.SigV4QueryAuth` for the cluster names the engine knows.

Scope and replays:

- An EKS token is accepted on the Kubernetes API only (``/api``, ``/apis``, ``/version``), as on EKS, where
  it authenticates to the cluster and nowhere else. Batch, Logs, EKS and the admin routes need a header
  signature.
- Off the Kubernetes API a signature must cover the body: ``x-amz-content-sha256: UNSIGNED-PAYLOAD`` is
  refused (it would let whoever sees a request swap its body).
- A header signature on a request that changes something (any Batch operation but ``Describe*``/``List*``/
  ``Get*``, a Logs operation but those, any admin ``POST``, any ``DELETE``) is accepted once, so a captured
  request cannot be replayed to run a job again. botocore signs with a one-second timestamp, so a client's
  own retry within the same second carries the same signature: a repeat is answered
  ``429 TooManyRequestsException``, which SDKs retry (signing again, a second later), while a replay by
  someone else is refused for as long as its signature is valid (15 minutes). Reads may repeat: two
  workers asking the same DescribeJobs in the same second sign the same bytes.

Failures answer 403 with AWS's error types: ``MissingAuthenticationTokenException``,
``UnrecognizedClientException`` (unknown access key), ``InvalidSignatureException`` (wrong signature,
expired, body altered, unsigned body, a token off the Kubernetes API).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ..errors import (
    ClientException,
    EngineError,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    TooManyRequestsException,
    UnrecognizedClientException,
)
from .asgi_errors import send_error

__all__ = [
    "EngineCredentials",
    "SigV4Verifier",
    "SigV4Middleware",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "credentials_from_env",
    "ACCESS_KEY_ENV",
    "SECRET_KEY_ENV",
    "MIN_SECRET_LENGTH",
]

ACCESS_KEY_ENV = "BATCH_EKS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "BATCH_EKS_SECRET_ACCESS_KEY"
MIN_SECRET_LENGTH = 16
MAX_CLOCK_SKEW_SECONDS = 15 * 60
MAX_SIGNED_BODY_BYTES = 1024 * 1024
EKS_TOKEN_PREFIX = "k8s-aws-v1."
UNAUTHENTICATED_PATHS = frozenset({"/_local/health"})
KUBERNETES_PATH_PREFIXES = ("/api/", "/apis/", "/version")
KUBERNETES_PATHS = frozenset({"/api", "/apis", "/version"})
MAX_REMEMBERED_SIGNATURES = 200_000


def is_kubernetes_path(path: str) -> bool:
    """Whether ``path`` is on the engine's Kubernetes API (where EKS tokens are accepted)."""
    return path in KUBERNETES_PATHS or path.startswith(KUBERNETES_PATH_PREFIXES)

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class EngineCredentials:
    """The one access key the engine accepts when it verifies signatures."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never print the secret
        return f"EngineCredentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


def credentials_from_env(environ: dict[str, str] | None = None) -> EngineCredentials | None:
    environ = os.environ if environ is None else environ
    key, secret = environ.get(ACCESS_KEY_ENV), environ.get(SECRET_KEY_ENV)
    return EngineCredentials(key, secret) if key and secret else None


_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


_READ_PREFIXES = ("describe", "list", "get", "filter")


def _changes_state(method: str, raw_path: str, headers: dict[str, list[str]]) -> bool:
    """Whether a request may change something, so that running it twice differs from running it once."""
    if method in ("GET", "HEAD"):
        return False
    path = raw_path.split("?", 1)[0]
    if path.startswith("/v1/") and not path.startswith("/v1/tags/"):
        return not path[len("/v1/"):].lower().startswith(_READ_PREFIXES)
    target = (headers.get("x-amz-target") or [""])[0]
    if path == "/" and target:
        return not target.rsplit(".", 1)[-1].lower().startswith(_READ_PREFIXES)
    return True


class SigV4Verifier:
    """Check SigV4 signatures (header or EKS token) against one set of :class:`EngineCredentials`.

    :param credentials: the access key and secret clients must sign with.
    :param cluster_names: the EKS cluster names an EKS token may be for (its signed ``x-k8s-aws-id``).
    :param now: wall-clock seconds, for the 15-minute skew rule (replaceable in tests).
    """

    def __init__(
        self,
        credentials: EngineCredentials,
        cluster_names: Callable[[], Iterable[str]] = lambda: (),
        now: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.cluster_names = cluster_names
        self.now = now
        self._botocore_credentials = Credentials(credentials.access_key_id, credentials.secret_access_key)
        self._seen: dict[str, float] = {}  # header signature -> when it stops being valid

    # -- requests signed in the Authorization header ------------------------------------------------------
    def verify(self, method: str, raw_path: str, query_string: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """Raise unless the request carries a valid signature by the engine's credentials.

        An EKS bearer token is accepted on the Kubernetes API only; elsewhere the signature must cover the
        body and may be used once (see the module docstring).
        """
        values: dict[str, list[str]] = {}
        for name, value in headers:
            values.setdefault(name.lower(), []).append(value)
        kubernetes = is_kubernetes_path(raw_path.split("?", 1)[0])
        authorization = (values.get("authorization") or [""])[0].strip()
        if authorization.startswith("Bearer "):
            if not kubernetes:
                raise InvalidSignatureException(
                    "An EKS token authenticates to the Kubernetes API only; sign AWS API and admin requests with "
                    "SigV4 (AWS4-HMAC-SHA256)."
                )
            self.verify_eks_token(authorization[len("Bearer "):].strip())
            return
        if not authorization:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        match = _AUTH_RE.match(authorization)
        if match is None:
            raise InvalidSignatureException(
                "Authorization header is not an AWS Signature Version 4 header "
                "(AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...)."
            )
        access_key, date, region, service = self._scope(match["credential"])
        amz_date = (values.get("x-amz-date") or [""])[0]
        signed_at = self._check_time(amz_date, date)
        declared_hash = (values.get("x-amz-content-sha256") or [None])[0]
        if declared_hash == UNSIGNED_PAYLOAD and not kubernetes:
            raise InvalidSignatureException(
                "x-amz-content-sha256: UNSIGNED-PAYLOAD is refused here: the signature must cover the request body."
            )
        if declared_hash not in (None, UNSIGNED_PAYLOAD) and declared_hash != hashlib.sha256(body).hexdigest():
            raise InvalidSignatureException("The provided x-amz-content-sha256 header does not match what was computed.")
        request = AWSRequest(method=method, url=f"http://{(values.get('host') or [''])[0]}{raw_path}", data=body)
        if query_string:
            request.url += f"?{query_string}"
        for name in match["signed"].split(";"):
            if name not in values:
                raise InvalidSignatureException(f"Signed header {name!r} is not in the request.")
            for value in values[name]:
                request.headers[name] = value
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(self._botocore_credentials, service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise InvalidSignatureException(_SIGNATURE_MISMATCH)
        if _changes_state(method, raw_path, values):
            self._use_once(expected, signed_at.timestamp() + MAX_CLOCK_SKEW_SECONDS)

    def _use_once(self, signature: str, valid_until: float) -> None:
        now = self.now()
        if self._seen.get(signature, 0.0) > now:
            raise TooManyRequestsException(
                "This request's signature was used already: a repeated request is not run twice. Sign it again "
                "(SDKs retry this error with a new signature)."
            )
        if len(self._seen) >= MAX_REMEMBERED_SIGNATURES:
            self._seen = {s: until for s, until in self._seen.items() if until > now}
            if len(self._seen) >= MAX_REMEMBERED_SIGNATURES:
                raise TooManyRequestsException("Too many signed requests in the last 15 minutes; try again later.")
        self._seen[signature] = valid_until

    def _scope(self, credential: str) -> tuple[str, str, str, str]:
        parts = credential.split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise InvalidSignatureException(f"Credential {credential!r} is not <key>/<date>/<region>/<service>/aws4_request.")
        if not hmac.compare_digest(parts[0], self.credentials.access_key_id):
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        return parts[0], parts[1], parts[2], parts[3]

    def _check_time(self, amz_date: str, scope_date: str) -> datetime.datetime:
        try:
            signed_at = datetime.datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise InvalidSignatureException(f"X-Amz-Date {amz_date!r} is missing or not in the form YYYYMMDDTHHMMSSZ.") from None
        if amz_date[:8] != scope_date:
            raise InvalidSignatureException(f"Date {scope_date!r} in the credential scope does not match X-Amz-Date {amz_date!r}.")
        skew = abs(self.now() - signed_at.timestamp())
        if skew > MAX_CLOCK_SKEW_SECONDS:
            raise InvalidSignatureException(
                f"Signature expired: {amz_date} is more than {MAX_CLOCK_SKEW_SECONDS // 60} minutes from the engine's time."
            )
        return signed_at

    # -- EKS tokens (a presigned STS GetCallerIdentity URL) ---------------------------------------------
    def verify_eks_token(self, token: str) -> None:
        if not token.startswith(EKS_TOKEN_PREFIX):
            raise UnrecognizedClientException("The bearer token is not an EKS token (k8s-aws-v1.<presigned URL>).")
        encoded = token[len(EKS_TOKEN_PREFIX):]
        try:
            url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise UnrecognizedClientException("The EKS token does not hold a base64url presigned URL.") from None
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(query)
        signature = params.get("X-Amz-Signature", "")
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or not signature:
            raise UnrecognizedClientException("The EKS token's URL is not a SigV4 presigned URL.")
        if params.get("Action") != "GetCallerIdentity":
            raise UnrecognizedClientException("The EKS token's URL is not an STS GetCallerIdentity request.")
        _, date, region, service = self._scope(params.get("X-Amz-Credential", ""))
        signed_at = self._check_time(params.get("X-Amz-Date", ""), date)
        expires = int(params.get("X-Amz-Expires", "0") or 0)
        if self.now() > signed_at.timestamp() + expires:
            raise InvalidSignatureException("The EKS token has expired.")
        unsigned_query = "&".join(p for p in parts.query.split("&") if not p.startswith("X-Amz-Signature="))
        signed_headers = params.get("X-Amz-SignedHeaders", "host").split(";")
        for cluster in [*self.cluster_names(), None]:
            request = AWSRequest(method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path or '/'}?{unsigned_query}")
            request.headers["host"] = parts.netloc
            if "x-k8s-aws-id" in signed_headers:
                if cluster is None:
                    continue
                request.headers["x-k8s-aws-id"] = cluster
            request.context["timestamp"] = params["X-Amz-Date"]
            signer = SigV4QueryAuth(self._botocore_credentials, service, region, expires=expires)
            canonical = signer.canonical_request(request)
            if hmac.compare_digest(signer.signature(signer.string_to_sign(request, canonical), request), signature):
                return
        raise InvalidSignatureException("The EKS token's signature does not match: " + _SIGNATURE_MISMATCH)


class SigV4Middleware:
    """ASGI middleware: verify every HTTP request with ``verifier`` before the app sees it.

    The body is read (at most :data:`MAX_SIGNED_BODY_BYTES`) to check its hash, then handed on
    unchanged. ``/_local/health`` stays open so a load balancer can probe the engine.
    """

    def __init__(self, app: Any, verifier: SigV4Verifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] in UNAUTHENTICATED_PATHS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_SIGNED_BODY_BYTES:
                await send_error(send, ClientException(f"Request body is larger than the {MAX_SIGNED_BODY_BYTES} bytes allowed."))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            self.verifier.verify(scope["method"], raw_path, scope["query_string"].decode("latin-1"), headers, body)
        except EngineError as e:
            await send_error(send, e)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

