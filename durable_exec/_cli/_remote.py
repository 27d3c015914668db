"""A botocore ``lambda`` client for ``--endpoint URL`` and ``--region REGION``.

botocore is imported here, on use: local commands never load it for this.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from durable_exec._cli._errors import CliError

__all__ = ["remote_client"]

# Emulators accept any credentials; these stand in when none are configured.
_DUMMY_KEY_ID = "local"
_DUMMY_SECRET = "local"  # noqa: S105 - not a secret: emulators ignore it


def remote_client(endpoint: str | None, region: str | None) -> Any:
    """Return a botocore ``lambda`` client for an endpoint or an AWS region.

    With ``endpoint``, the region defaults to the configured one or
    ``us-east-1``, and dummy credentials are used if none are configured.
    Without it, the default credential chain and region apply.

    Args:
        endpoint: A ``http(s)://host:port`` URL speaking the Lambda API, or None.
        region: The AWS region, or None for the configured one.

    Raises:
        CliError: The URL is malformed, no region is known, or the AWS
            configuration is broken (e.g. an unknown profile).
    """
    import botocore.exceptions
    import botocore.session
    from botocore.config import Config

    if endpoint is not None:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise CliError(f"--endpoint {endpoint!r} is not an http:// or https:// URL")
    if endpoint is not None:
        # An emulator needs no instance-role credentials; skip the (slow) metadata lookup.
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    try:
        session = botocore.session.get_session()
        region_name = region or session.get_config_variable("region")
        if region_name is None and endpoint is not None:
            region_name = "us-east-1"
        if region_name is None:
            raise CliError("no AWS region is configured: pass --region or set AWS_REGION")
        key_id = secret = None
        if endpoint is not None and session.get_credentials() is None:
            key_id, secret = _DUMMY_KEY_ID, _DUMMY_SECRET
        config = Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "total_max_attempts": 2},
        )
        return session.create_client(
            "lambda",
            region_name=region_name,
            endpoint_url=endpoint,
            config=config,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
    except (botocore.exceptions.BotoCoreError, ValueError) as exc:
        raise CliError(f"cannot create a Lambda client: {exc}") from exc
