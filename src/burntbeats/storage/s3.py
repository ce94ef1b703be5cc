"""S3 storage (S3_ENABLED=1): job files as objects `<S3_PREFIX>jobs/<job_id>/<name>` in S3_BUCKET, any
S3-compatible store (AWS, MinIO, Ceph...; S3_ENDPOINT_URL), through boto3.

- Writes are single PUTs (or multipart uploads that S3 completes at once): a reader never sees half an
  object. A worker's attempt writes into a local staging folder; `publish` uploads it while the job row is
  locked by the finishing UPDATE, so only the lease holder publishes, and the job is "succeeded" (its files
  served) only once every object is there.
- `response` is a 307 redirect to a presigned GET (S3_PRESIGN_EXPIRY_S, default 5 minutes) that carries the
  media type and Content-Disposition; Range requests go to the store.
- `fetch` downloads to a local cache under DATA_DIR/jobs (kept while the object's ETag is unchanged); a
  worker's inputs are fetched the same way. S3_DELETE_LOCAL_AFTER_UPLOAD (default on) removes a worker's
  local copies once its results are uploaded, and the API's copy of an upload once it is stored.
- `lock` is a Redis lock when CELERY_BROKER_URL names a Redis (held across machines), else a local flock.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from starlette.responses import RedirectResponse, Response

from burntbeats.storage.base import check_job_id, check_name
from burntbeats.storage.local import LocalStorage

LOCK_TIMEOUT_S = 60  # a holder that died frees the lock after this
_clients_lock = threading.Lock()
_clients: dict[tuple, object] = {}


def s3_client(settings, endpoint_url: str | None = None):
    """One boto3 client per configuration and process (clients are thread-safe; creating one costs ~50 ms)."""
    import boto3
    from botocore.config import Config

    endpoint = settings.s3_endpoint_url if endpoint_url is None else endpoint_url
    key = (endpoint, settings.s3_region, settings.s3_access_key_id, settings.s3_secret_access_key)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = boto3.client(
                "s3", endpoint_url=endpoint or None, region_name=settings.s3_region,
                aws_access_key_id=settings.s3_access_key_id or None,
                aws_secret_access_key=settings.s3_secret_access_key or None,
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, connect_timeout=3,
                              read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                              max_pool_connections=32),
            )
        return _clients[key]


def _missing(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _content_disposition(filename: str) -> str:
    ascii_name = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


class _Body:
    """A streamed object body as a context-managed binary file (read / close)."""

    def __init__(self, body) -> None:
        self._body = body

    def read(self, size: int = -1) -> bytes:
        return self._body.read(None if size is None or size < 0 else size)

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class S3Storage:
    """Implements :class:`burntbeats.storage.base.Storage` on an S3 bucket, with a local cache and staging."""

    def __init__(self, settings) -> None:
        self.settings = settings
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.expiry_s = int(settings.s3_presign_expiry_s)
        self.delete_local = bool(settings.s3_delete_local_after_upload)
        self.cache = LocalStorage(settings.jobs_dir)
        self.client = s3_client(settings)
        public = settings.s3_public_endpoint_url
        self.presigner = s3_client(settings, public) if public else self.client  # signs links for browsers

    # -- keys and the local cache ---------------------------------------------
    def key(self, job_id: str, name: str) -> str:
        return f"{self.prefix}jobs/{check_job_id(job_id)}/{check_name(name)}"

    def _job_prefix(self, job_id: str) -> str:
        return f"{self.prefix}jobs/{check_job_id(job_id)}/"

    def job_dir(self, job_id: str, create: bool = False) -> Path:
        return self.cache.job_dir(job_id, create)

    def _etag_file(self, path: Path) -> Path:
        return path.with_name(f".{path.name}.etag")  # hidden: never listed, never published

    # -- the Storage interface -------------------------------------------------
    def put(self, job_id: str, name: str, source: BinaryIO | Path | bytes, *, move: bool = False) -> int:
        key = self.key(job_id, name)
        if isinstance(source, bytes):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=source)
            size = len(source)
        elif isinstance(source, Path):
            size = source.stat().st_size
            self.client.upload_file(str(source), self.bucket, key)
            if move:
                source.unlink(missing_ok=True)
        else:
            with tempfile.TemporaryFile() as spool:  # a known length for the upload
                shutil.copyfileobj(source, spool, 1024 * 1024)
                size = spool.tell()
                spool.seek(0)
                self.client.upload_fileobj(spool, self.bucket, key)
        self.cache.delete(job_id, name)  # a cached copy of the old object is stale now
        return size

    def open(self, job_id: str, name: str) -> BinaryIO:
        try:
            return _Body(self.client.get_object(Bucket=self.bucket, Key=self.key(job_id, name))["Body"])
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(name) from None
            raise

    def read(self, job_id: str, name: str, start: int = 0, end: int | None = None) -> bytes:
        start = max(0, start)
        if end is not None and end <= start:
            return b""
        extra = {} if start == 0 and end is None else {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.key(job_id, name), **extra)
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(name) from None
            if str(exc.response.get("Error", {}).get("Code")) == "InvalidRange":
                return b""
            raise
        return obj["Body"].read()

    def _head(self, job_id: str, name: str) -> dict | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key(job_id, name))
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                return None
            raise

    def fetch(self, job_id: str, name: str) -> Path:
        head = self._head(job_id, name)
        if head is None:
            raise FileNotFoundError(name)
        path = self.cache.job_dir(job_id) / check_name(name)
        marker = self._etag_file(path)
        etag = head.get("ETag", "")
        if path.is_file() and marker.is_file() and marker.read_text() == etag:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        try:
            self.client.download_file(self.bucket, self.key(job_id, name), tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        marker.write_text(etag)
        return path

    def response(self, job_id: str, name: str, *, media_type: str, filename: str | None = None) -> Response:
        params = {"Bucket": self.bucket, "Key": self.key(job_id, name), "ResponseContentType": media_type}
        if filename:
            params["ResponseContentDisposition"] = _content_disposition(filename)
        url = self.presigner.generate_presigned_url("get_object", Params=params, ExpiresIn=self.expiry_s)
        # The link expires: neither the redirect nor its target may be cached longer.
        return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, no-store"})

    def exists(self, job_id: str, name: str) -> bool:
        return self._head(job_id, name) is not None

    def _keys(self, prefix: str) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def list(self, job_id: str, prefix: str = "") -> list[str]:
        base = self._job_prefix(job_id)
        names = sorted(key[len(base):] for key in self._keys(base + prefix))
        return [n for n in names if not any(part.startswith(".") for part in n.split("/"))]

    def delete(self, job_id: str, name: str | None = None) -> None:
        if name is not None:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(job_id, name))
            self.cache.delete(job_id, name)
            return
        keys = list(self._keys(self._job_prefix(job_id)))
        for i in range(0, len(keys), 1000):
            self.client.delete_objects(Bucket=self.bucket,
                                       Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
        self.cache.delete(job_id)

    def delete_job(self, job_id: str) -> None:
        self.delete(job_id)

    def lock(self, job_id: str, name: str):
        broker = self.settings.celery_broker_url
        if broker.startswith(("redis://", "rediss://")):
            return _redis_lock(broker, f"{self.settings.celery_key_prefix}burntbeats:lock:{self.key(job_id, name)}")
        return self.cache.lock(job_id, name)

    def link(self, source_job: str, source_name: str, job_id: str, name: str) -> None:
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self.key(job_id, name),
                                    CopySource={"Bucket": self.bucket, "Key": self.key(source_job, source_name)})
        except self.client.exceptions.ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(source_name) from None
            raise

    def ping(self) -> str:
        """What /health checks: the bucket answers."""
        self.client.head_bucket(Bucket=self.bucket)
        return f"s3 bucket {self.bucket}"

    # -- a worker's side: inputs, staging, publishing --------------------------
    def local_inputs(self, job_id: str) -> Path:
        """The job's folder on this machine with every stored file fetched into it (what a worker reads)."""
        for name in self.list(job_id):
            self.fetch(job_id, name)
        return self.cache.job_dir(job_id, create=True)

    def stage(self, job_id: str, attempt: int) -> Path:
        return self.cache.stage(job_id, attempt)

    def publish(self, job_id: str, staging: Path) -> None:
        """Upload a staged attempt's outputs (every file under it but `work/` and `input`), then drop or keep
        the local copies (S3_DELETE_LOCAL_AFTER_UPLOAD)."""
        staging = Path(staging)
        for path in sorted(staging.rglob("*")):
            rel = path.relative_to(staging).as_posix()
            if not path.is_file() or rel.split("/")[0] in ("work", "input") or "/." in f"/{rel}":
                continue
            self.client.upload_file(str(path), self.bucket, self.key(job_id, rel))
        if self.delete_local:
            shutil.rmtree(self.cache.job_dir(job_id), ignore_errors=True)
        else:
            self.cache.publish(job_id, staging)

    def discard_stages(self, job_id: str) -> None:
        self.cache.discard_stages(job_id)


@contextmanager
def _redis_lock(url: str, key: str) -> Iterator[None]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    lock = client.lock(key, timeout=LOCK_TIMEOUT_S, blocking_timeout=LOCK_TIMEOUT_S)
    if not lock.acquire():
        raise TimeoutError(f"the lock {key} stayed held for {LOCK_TIMEOUT_S} s")
    try:
        yield
    finally:
        try:
            lock.release()
        finally:
            client.close()

