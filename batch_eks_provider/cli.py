"""The ``batch-eks`` command.

    batch-eks local serve [--host H] [--port P] [--kubernetes-port K] [--state-dir DIR] [--blueprint data-on-eks]
                          [--runtime process|docker|auto] [fault flags]
                          [--allowed-host NAME ...]
                          [--allow-remote --access-key-id KEY --secret-access-key-file FILE]
    batch-eks local reclaim JOB_ID [--url URL] [--access-key-id KEY --secret-access-key-file FILE] [--region R]

The secret comes from ``--secret-access-key-file`` (a file holding it on its first line) or the environment
(``BATCH_EKS_SECRET_ACCESS_KEY``); ``--secret-access-key SECRET`` still works but shows the secret to every
user of the machine in ``ps``, so it prints a warning.

``reclaim`` signs its request with SigV4 (botocore) when it has credentials, from the flags or from the
environment variables ``serve`` reads (``BATCH_EKS_ACCESS_KEY_ID``/``BATCH_EKS_SECRET_ACCESS_KEY``), so it works
against an engine that verifies signatures; without them it sends an unsigned request, which a loopback engine
without credentials accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

__all__ = ["main", "build_parser"]

DEFAULT_PORT = 4566


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batch-eks", description="AWS Batch on EKS tools.")
    sub = parser.add_subparsers(dest="group", required=True)
    local = sub.add_parser("local", help="The local engine: AWS Batch on EKS on this machine.")
    local_sub = local.add_subparsers(dest="command", required=True)

    serve = local_sub.add_parser("serve", help="Run the local engine in the foreground.")
    serve.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1; others need --allow-remote).")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"Port (default {DEFAULT_PORT}).")
    serve.add_argument(
        "--kubernetes-port",
        type=int,
        default=None,
        help="HTTPS port of the cluster endpoint (the Kubernetes API; default --port + 1). Its CA is in "
        "<state-dir>/tls/ca.crt (or a temporary directory) and in DescribeCluster's certificateAuthority.",
    )
    serve.add_argument("--state-dir", default=None, help="Directory for the SQLite state; omitted: nothing persists.")
    serve.add_argument("--blueprint", choices=["data-on-eks"], default=None, help="Create a ready-made environment.")
    serve.add_argument(
        "--runtime",
        choices=["process", "docker", "auto"],
        default=None,
        help="How pods run: process (each container a local process; the default), docker (each container in its "
        "image in the Docker daemon that DOCKER_HOST or the default socket names), auto (docker when a daemon "
        "answers). Default: $BATCH_EKS_RUNTIME or process.",
    )
    serve.add_argument("--throttle-rate", type=float, default=0.0, help="Fraction of AWS API requests answered 429.")
    serve.add_argument("--server-error-rate", type=float, default=0.0, help="Fraction of AWS API requests answered 500.")
    serve.add_argument("--spot-interruption-rate", type=float, default=0.0, help="Spot interruptions per Spot node per minute.")
    serve.add_argument("--node-startup-seconds", type=float, default=0.2, help="Time a new node takes to become Ready.")
    serve.add_argument("--pod-retention-seconds", type=float, default=30.0, help="Time a finished pod is kept before deletion.")
    serve.add_argument("--seed", type=int, default=None, help="Random seed for node names and injected faults.")
    serve.add_argument(
        "--pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="Copy the engine's environment variable NAME into every job's containers (repeatable). Jobs get a "
        "container's environment, as on EKS, and nothing else of the engine's (its secrets included).",
    )
    serve.add_argument(
        "--allow-remote", action="store_true", help="Allow a non-loopback --host; needs credentials, which every request must then sign with."
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="A name clients reach the engine by, besides IP addresses and localhost (repeatable; e.g. a compose "
        "service name). Requests whose Host is any other name are refused (DNS rebinding).",
    )
    serve.add_argument("--access-key-id", default=None, help="Access key clients must sign with (or env BATCH_EKS_ACCESS_KEY_ID).")
    _add_secret_arguments(serve, "Its secret")

    reclaim = local_sub.add_parser("reclaim", help="Reclaim the node under a running job (a Spot interruption).")
    reclaim.add_argument("job_id", help="Id of a STARTING or RUNNING job; its node is reclaimed and every pod on it dies.")
    reclaim.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="The engine's URL.")
    reclaim.add_argument(
        "--access-key-id", default=None, help="Access key to sign the request with (or env BATCH_EKS_ACCESS_KEY_ID)."
    )
    _add_secret_arguments(reclaim, "Its secret")
    reclaim.add_argument("--region", default="us-east-1", help="Region in the signature's scope (default us-east-1).")
    return parser


def _add_secret_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--secret-access-key-file",
        default=None,
        metavar="FILE",
        help=f"{what}, read from the first line of FILE (or env BATCH_EKS_SECRET_ACCESS_KEY).",
    )
    parser.add_argument(
        "--secret-access-key", default=None, help=f"{what} on the command line (visible in `ps`: prefer the file or env)."
    )


def _credentials(args: argparse.Namespace):
    """The credentials the flags, the secret file or the environment give (or None), or why they are refused."""
    from .local.api.auth import EngineCredentials, credentials_from_env

    if args.secret_access_key and args.secret_access_key_file:
        return None, "--secret-access-key and --secret-access-key-file are two ways to give one secret: pick one."
    secret = args.secret_access_key
    if args.secret_access_key:
        print(
            "warning: --secret-access-key puts the secret in this process's command line, which every user of the "
            "machine can read with `ps`; use --secret-access-key-file or BATCH_EKS_SECRET_ACCESS_KEY instead.",
            file=sys.stderr,
        )
    if args.secret_access_key_file:
        try:
            with open(args.secret_access_key_file, encoding="utf-8") as f:
                secret = f.readline().strip()
        except OSError as e:
            return None, f"cannot read --secret-access-key-file {args.secret_access_key_file!r}: {e.strerror}."
        if not secret:
            return None, f"--secret-access-key-file {args.secret_access_key_file!r} is empty."
    if bool(args.access_key_id) != bool(secret):
        return None, "--access-key-id and the secret (--secret-access-key-file or --secret-access-key) go together."
    if args.access_key_id:
        return EngineCredentials(args.access_key_id, secret), None
    return credentials_from_env(), None


def _serve(args: argparse.Namespace) -> int:
    import shutil

    import uvicorn

    from .local.blueprints import apply_blueprint
    from .local.engine import Engine, RuntimeUnavailable
    from .local.server import build_served_app, engine_tls
    from .local.store.state import EngineConfig

    credentials, problem = _serve_credentials(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    config = EngineConfig(
        throttle_rate=args.throttle_rate,
        server_error_rate=args.server_error_rate,
        spot_interruption_rate=args.spot_interruption_rate,
        node_startup_seconds=args.node_startup_seconds,
        pod_retention_seconds=args.pod_retention_seconds,
        random_seed=args.seed,
        pass_env=tuple(args.pass_env),
    )
    try:
        engine = Engine(config, args.state_dir, runtime=args.runtime)
    except RuntimeUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    engine.set_api_address(args.host, args.port)  # containers' KUBERNETES_SERVICE_HOST/PORT
    if args.blueprint:
        apply_blueprint(engine, args.blueprint)
    allowed_hosts = [*args.allowed_host, args.host]  # the bound host, when it is a name, is allowed too
    kubernetes_port = args.kubernetes_port or args.port + 1
    tls, temporary = engine_tls(args.state_dir, kubernetes_port, allowed_hosts)
    print(
        f"batch-eks local engine on http://{args.host}:{args.port}, Kubernetes API on "
        f"https://{args.host}:{kubernetes_port} (CA {tls.ca_path}; state: {args.state_dir or 'in memory'}; "
        f"runtime: {engine.runtime_name})",
        flush=True,
    )
    app = build_served_app(engine, credentials, allowed_hosts, tls, (args.host, args.port))
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    return 0


def _serve_credentials(args: argparse.Namespace):
    """The credentials to verify requests with (None: accept any) or why serving is refused."""
    from .local.api.auth import MIN_SECRET_LENGTH
    from .local.server import is_loopback

    credentials, problem = _credentials(args)
    if problem:
        return None, problem
    if is_loopback(args.host):
        return credentials, None
    if not args.allow_remote:
        return None, (
            f"refusing to bind to {args.host!r}: the engine runs commands on this machine. Pass --allow-remote "
            "and credentials to serve other machines."
        )
    if credentials is None:
        return None, (
            f"--allow-remote on {args.host!r} needs credentials that every request must be signed with: "
            "--access-key-id/--secret-access-key or BATCH_EKS_ACCESS_KEY_ID/BATCH_EKS_SECRET_ACCESS_KEY."
        )
    if len(credentials.secret_access_key) < MIN_SECRET_LENGTH:
        return None, f"the secret access key for a remote engine must be at least {MIN_SECRET_LENGTH} characters."
    return credentials, None


def _signed_headers(url: str, body: bytes, headers: dict[str, str], credentials, region: str) -> dict[str, str]:
    """``headers`` plus a SigV4 signature of the request (service ``batch``) by ``credentials``.

    A signed ``amz-sdk-invocation-id`` (a new UUID, as the AWS SDKs send) makes each command's signature its own:
    the engine runs a state-changing signature once, and two reclaims in the same second would otherwise sign
    the same bytes.
    """
    import uuid

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=url, data=body, headers={**headers, "amz-sdk-invocation-id": str(uuid.uuid4())})
    SigV4Auth(Credentials(credentials.access_key_id, credentials.secret_access_key), "batch", region).add_auth(request)
    return dict(request.headers.items())


def _reclaim(args: argparse.Namespace) -> int:
    credentials, problem = _credentials(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    url = f"{args.url.rstrip('/')}/_local/reclaim"
    body = json.dumps({"jobId": args.job_id}).encode()
    headers = {"Content-Type": "application/json"}
    if credentials is not None:
        headers = _signed_headers(url, body, headers, credentials, args.region)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as e:
        print(f"error: {json.loads(e.read()).get('message', e)}", file=sys.stderr)
        return 1
    except urllib.error.URLError as e:
        print(f"error: cannot reach the engine at {args.url}: {e.reason}", file=sys.stderr)
        return 1
    print(f"reclaimed node {body['nodeName']} (instance {body['instanceId']}); pods stopped: {', '.join(body['pods']) or 'none'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.group == "local" and args.command == "serve":
        return _serve(args)
    if args.group == "local" and args.command == "reclaim":
        return _reclaim(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
