"""Buckets and objects of the lake, through the `minio` S3 client (any S3 server will do).

The medallion layers are buckets: ``bronze`` (raw, as captured), ``silver`` (cleaned, conformed),
``gold`` (aggregates for the business); ``checkpoints`` holds Structured Streaming checkpoints
(outside the table folders, which VACUUM would clean) and ``models`` the saved ML models of
lesson 07. :func:`ensure_buckets` creates them idempotently; the composition root runs it each
time the store comes up. None is public: every request must be signed with the keys of .env.

    >>> from jornada import s3 as storage
    >>> storage.put_bytes("bronze", "hello.txt", b"hi")
    >>> storage.get_bytes("bronze", "hello.txt")
    b'hi'
"""

from __future__ import annotations

import io
from datetime import timedelta
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from .config import Settings, settings as load_settings

BUCKETS = ("bronze", "silver", "gold", "checkpoints", "models")


def client(s: Settings | None = None, *, timeout_s: float | None = None,
           secret_key: str | None = None):
    """A `minio.Minio` client for the store of these settings (``secret_key`` overrides, for tests)."""
    import urllib3
    from minio import Minio

    s = s or load_settings()
    url = urlsplit(s.s3_endpoint)
    http = None
    if timeout_s is not None:  # health checks: answer fast, no retries
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
                                   retries=urllib3.Retry(total=0))
    return Minio(url.netloc, access_key=s.s3_access_key.get_secret_value(),
                 secret_key=secret_key or s.s3_secret_key.get_secret_value(),
                 secure=url.scheme == "https", region=s.s3_region, http_client=http)


def ensure_buckets(s: Settings | None = None, log: Callable[[str], None] = print,
                   buckets: tuple[str, ...] = BUCKETS) -> list[str]:
    """Create the lake's buckets that do not exist yet; returns the ones created."""
    from minio.error import S3Error

    c = client(s)
    created = []
    for name in buckets:
        if c.bucket_exists(name):
            continue
        try:
            c.make_bucket(name)
        except S3Error as exc:  # someone else created it meanwhile
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            continue
        created.append(name)
    if created:
        log(f"s3: created bucket(s) {', '.join(created)}")
    return created


def put_bytes(bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream",
              s: Settings | None = None) -> None:
    client(s).put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)


def get_bytes(bucket: str, key: str, s: Settings | None = None) -> bytes:
    response = client(s).get_object(bucket, key)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def list_keys(bucket: str, prefix: str = "", recursive: bool = True,
              s: Settings | None = None) -> Iterator[str]:
    for obj in client(s).list_objects(bucket, prefix=prefix, recursive=recursive):
        yield obj.object_name


def _folders(c, bucket: str, prefix: str) -> list[str]:
    """The folders under ``prefix``, each listed after the folders inside it."""
    out: list[str] = []
    for obj in c.list_objects(bucket, prefix=prefix, recursive=False):
        if obj.is_dir and obj.object_name != prefix:
            out += _folders(c, bucket, obj.object_name) + [obj.object_name]
    return out


def delete_prefix(bucket: str, prefix: str, s: Settings | None = None) -> int:
    """Delete every object under ``prefix`` (a table folder, say); returns how many.

    The folders go too, deepest first: SeaweedFS keeps a folder when its last object is deleted
    and answers HEAD ``folder/`` with 200, so Hadoop's S3A takes the path for an existing
    directory and a later save there fails (MLlib: "PATH_ALREADY_EXISTS" even with overwrite).
    On MinIO and AWS a folder is only a prefix: deleting ``folder/`` is a harmless no-op.
    """
    from minio.deleteobjects import DeleteObject

    c = client(s)
    keys = [DeleteObject(k) for k in list_keys(bucket, prefix, s=s)]
    errors = list(c.remove_objects(bucket, keys))
    if errors:
        raise RuntimeError(f"could not delete {len(errors)} object(s) under {bucket}/{prefix}: "
                           f"{errors[0]}")
    for folder in _folders(c, bucket, prefix) + ([prefix] if prefix.endswith("/") else []):
        c.remove_object(bucket, folder)
    return len(keys)


def presigned_get(bucket: str, key: str, expires: timedelta = timedelta(minutes=15),
                  s: Settings | None = None) -> str:
    """A URL anyone can GET until it expires (the object stays private)."""
    return client(s).presigned_get_object(bucket, key, expires=expires)


def s3a_url(bucket: str, path: str = "") -> str:
    """The Hadoop/Spark URL of a folder: s3a://bronze/orders."""
    return f"s3a://{bucket}/{path.lstrip('/')}".rstrip("/")


def delta_rs_options(s: Settings | None = None) -> dict[str, str]:
    """storage_options for `deltalake` (delta-rs): read the same tables without Spark."""
    s = s or load_settings()
    return {"AWS_ENDPOINT_URL": s.s3_endpoint, "AWS_REGION": s.s3_region,
            "AWS_ACCESS_KEY_ID": s.s3_access_key.get_secret_value(),
            "AWS_SECRET_ACCESS_KEY": s.s3_secret_key.get_secret_value(),
            "AWS_ALLOW_HTTP": "true" if s.s3_endpoint.startswith("http://") else "false"}
