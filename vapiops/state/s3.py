"""The S3 backend: state objects in a bucket, locked by conditional writes (If-None-Match / If-Match)."""

from __future__ import annotations

import os
from typing import Any

from vapiops.errors import StateError
from vapiops.state.journaled import missing_extra
from vapiops.state.objectstore import ObjectStoreBackend

ENDPOINT_URL_ENV = "VAPIOPS_S3_ENDPOINT_URL"
# S3 answers a failed condition with 412; a conditional write racing another on the same key may
# get 409 ConditionalRequestConflict instead. Both mean "someone else's write won".
_CONDITION_FAILED = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    """ObjectStore on one S3 bucket (AWS or any S3-compatible store that implements conditional writes,
    as Terraform 1.10's `use_lockfile` requires too). Versions are ETags."""

    def __init__(self, bucket: str, *, region: str | None = None, endpoint_url: str | None = None):
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:
            raise missing_extra("s3", "boto3") from exc
        self.bucket = bucket
        self._client_error = ClientError
        self._transport_error = BotoCoreError
        self.client: Any = boto3.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url or os.environ.get(ENDPOINT_URL_ENV) or None,
            config=Config(retries={"mode": "standard", "max_attempts": 5}),
        )

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _code(self, exc: Exception) -> str:
        if isinstance(exc, self._client_error):
            response: dict[str, Any] = getattr(exc, "response", {})
            return str(response.get("Error", {}).get("Code", ""))
        return ""

    def _fail(self, exc: Exception, key: str, doing: str) -> StateError:
        code = self._code(exc)
        hint = "check the bucket, the region and the credentials (AWS_PROFILE or AWS_* variables)"
        if code in ("AccessDenied", "403"):
            hint = "the credentials lack a permission the s3 backend needs (see docs/state.md)"
        detail = code or type(exc).__name__
        return StateError(f"cannot {doing} ({detail}: {exc})", where=self.url(key), hint=hint)

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return response["Body"].read(), str(response["ETag"])
        except (self._client_error, self._transport_error) as exc:
            if self._code(exc) in _NOT_FOUND:
                return None
            raise self._fail(exc, key, "read state object") from exc

    def version(self, key: str) -> str | None:
        try:
            return str(self.client.head_object(Bucket=self.bucket, Key=key)["ETag"])
        except (self._client_error, self._transport_error) as exc:
            if self._code(exc) in _NOT_FOUND:
                return None
            raise self._fail(exc, key, "read state object") from exc

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, if_version: str | None = None
    ) -> str | None:
        condition: dict[str, str] = {}
        if if_absent:
            condition["IfNoneMatch"] = "*"
        elif if_version is not None:
            condition["IfMatch"] = if_version
        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/json", **condition
            )
            return str(response["ETag"])
        except (self._client_error, self._transport_error) as exc:
            if condition and self._code(exc) in _CONDITION_FAILED:
                return None
            raise self._fail(exc, key, "write state object") from exc

    def delete(self, key: str, *, if_version: str | None = None) -> bool:
        condition = {"IfMatch": if_version} if if_version is not None else {}
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key, **condition)
            return True
        except (self._client_error, self._transport_error) as exc:
            code = self._code(exc)
            if code in _NOT_FOUND:
                return True
            if condition and code in _CONDITION_FAILED:
                return False
            raise self._fail(exc, key, "delete state object") from exc

    def delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            chunk = keys[start : start + 1000]
            try:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
                )
            except (self._client_error, self._transport_error) as exc:
                raise self._fail(exc, chunk[0], "delete folded journal objects") from exc

    def keys(self, prefix: str) -> list[str]:
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                found.extend(str(item["Key"]) for item in page.get("Contents", []))
        except (self._client_error, self._transport_error) as exc:
            raise self._fail(exc, prefix, "list state objects") from exc
        return found


def s3_backend(
    bucket: str, prefix: str, environment: str, *, region: str | None = None, endpoint_url: str | None = None
) -> ObjectStoreBackend:
    return ObjectStoreBackend(S3Store(bucket, region=region, endpoint_url=endpoint_url), prefix, environment)
