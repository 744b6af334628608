"""Typed errors of the local engine, each carrying its AWS wire identity.

    EngineError                      (HTTP status, ``__type``)
     +-- ClientException             400, ClientException   - bad input, unknown resource, rule broken
     +-- ServerException             500, ServerException
     +-- TooManyRequestsException    429, TooManyRequestsException (injected throttling)
     +-- ResourceNotFoundException   404 (EKS, CloudWatch Logs)
     +-- InvalidParameterException   400 (EKS, CloudWatch Logs)
     +-- UnrecognizedClientException 403 (unknown access key when the engine verifies signatures)
     +-- InvalidSignatureException   403 (wrong or stale SigV4 signature)
     +-- MissingAuthenticationTokenException 403 (unsigned request to a verifying engine)
     +-- AccessDeniedException       403 (a browser-driven request: foreign Host or Origin)
     +-- UnsupportedMediaTypeException 415 (a body type no SDK sends, e.g. a cross-site form)

The API layer turns any of them into the wire error: header ``x-amzn-ErrorType`` and body
``{"__type": ..., "message": ...}``.

    KubernetesError                  (HTTP status, ``reason``) - the Kubernetes API's errors, answered as a
                                     ``Status`` object (``NotFound`` 404, ``BadRequest`` 400, ``Unauthorized`` ...)

A separate root: the Kubernetes routes never answer with an AWS error body, nor the AWS routes with a ``Status``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EngineError",
    "ClientException",
    "ServerException",
    "TooManyRequestsException",
    "ResourceNotFoundException",
    "InvalidParameterException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "AccessDeniedException",
    "UnsupportedMediaTypeException",
    "KubernetesError",
]


class EngineError(Exception):
    status_code = 400
    error_type = "ClientException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientException(EngineError):
    status_code = 400
    error_type = "ClientException"


class ServerException(EngineError):
    status_code = 500
    error_type = "ServerException"


class TooManyRequestsException(EngineError):
    status_code = 429
    error_type = "TooManyRequestsException"

    def __init__(self, message: str = "Too Many Requests") -> None:
        super().__init__(message)


class ResourceNotFoundException(EngineError):
    status_code = 404
    error_type = "ResourceNotFoundException"


class InvalidParameterException(EngineError):
    status_code = 400
    error_type = "InvalidParameterException"


class UnrecognizedClientException(EngineError):
    status_code = 403
    error_type = "UnrecognizedClientException"


class InvalidSignatureException(EngineError):
    status_code = 403
    error_type = "InvalidSignatureException"


class MissingAuthenticationTokenException(EngineError):
    status_code = 403
    error_type = "MissingAuthenticationTokenException"


class AccessDeniedException(EngineError):
    status_code = 403
    error_type = "AccessDeniedException"


class UnsupportedMediaTypeException(EngineError):
    status_code = 415
    error_type = "UnsupportedMediaTypeException"


class KubernetesError(Exception):
    """An error the Kubernetes API answers with a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    @classmethod
    def not_found(cls, kind: str, name: str) -> "KubernetesError":
        return cls(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind})

    @classmethod
    def bad_request(cls, message: str) -> "KubernetesError":
        return cls(400, "BadRequest", message)
