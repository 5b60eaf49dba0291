"""The GCS backend: state objects in a bucket, locked by generation preconditions (ifGenerationMatch)."""

from __future__ import annotations

from typing import Any

from vapiops.errors import StateError
from vapiops.state.journaled import missing_extra
from vapiops.state.objectstore import ObjectStoreBackend


class GcsStore:
    """ObjectStore on one Google Cloud Storage bucket. Versions are generations; "only if absent" is
    `if_generation_match=0`, as GCS documents for a create-only write."""

    def __init__(self, bucket: str, *, client: Any = None):
        try:
            from google.api_core import exceptions
            from google.cloud import storage
        except ImportError as exc:
            raise missing_extra("gcs", "google-cloud-storage") from exc
        self._exceptions = exceptions
        self.client = client if client is not None else storage.Client()
        self.bucket_name = bucket
        self.bucket = self.client.bucket(bucket)

    def url(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{key}"

    def _fail(self, exc: Exception, key: str, doing: str) -> StateError:
        hint = "check the bucket and the credentials (GOOGLE_APPLICATION_CREDENTIALS)"
        if isinstance(exc, self._exceptions.Forbidden):
            hint = "the credentials lack a permission the gcs backend needs (see docs/state.md)"
        return StateError(f"cannot {doing} ({type(exc).__name__}: {exc})", where=self.url(key), hint=hint)

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            blob = self.bucket.get_blob(key)
            if blob is None:
                return None
            # Read exactly the generation the metadata named (not a newer one written in between).
            data = blob.download_as_bytes(if_generation_match=blob.generation)
            return data, str(blob.generation)
        except self._exceptions.NotFound:
            return None
        except self._exceptions.PreconditionFailed:
            return self.get(key)  # rewritten between the two requests: read it again
        except self._exceptions.GoogleAPIError as exc:
            raise self._fail(exc, key, "read state object") from exc

    def version(self, key: str) -> str | None:
        try:
            blob = self.bucket.get_blob(key)
        except self._exceptions.GoogleAPIError as exc:
            raise self._fail(exc, key, "read state object") from exc
        return None if blob is None else str(blob.generation)

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, if_version: str | None = None
    ) -> str | None:
        condition: dict[str, int] = {}
        if if_absent:
            condition["if_generation_match"] = 0
        elif if_version is not None:
            condition["if_generation_match"] = int(if_version)
        blob = self.bucket.blob(key)
        try:
            blob.upload_from_string(data, content_type="application/json", **condition)
        except self._exceptions.PreconditionFailed:
            return None
        except self._exceptions.GoogleAPIError as exc:
            raise self._fail(exc, key, "write state object") from exc
        return str(blob.generation)

    def delete(self, key: str, *, if_version: str | None = None) -> bool:
        condition = {"if_generation_match": int(if_version)} if if_version is not None else {}
        try:
            self.bucket.blob(key).delete(**condition)
        except self._exceptions.NotFound:
            return True
        except self._exceptions.PreconditionFailed:
            return False
        except self._exceptions.GoogleAPIError as exc:
            raise self._fail(exc, key, "delete state object") from exc
        return True

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.delete(key)

    def keys(self, prefix: str) -> list[str]:
        try:
            return [str(blob.name) for blob in self.client.list_blobs(self.bucket_name, prefix=prefix)]
        except self._exceptions.GoogleAPIError as exc:
            raise self._fail(exc, prefix, "list state objects") from exc


def gcs_backend(bucket: str, prefix: str, environment: str, *, client: Any = None) -> ObjectStoreBackend:
    return ObjectStoreBackend(GcsStore(bucket, client=client), prefix, environment)
