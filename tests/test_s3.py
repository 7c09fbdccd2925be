"""The S3 contract the lessons rely on, against the stack's object store (SeaweedFS natively,
MinIO in compose): whatever server runs must pass these."""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from datetime import timedelta

import pytest
import requests
from minio.error import S3Error
from pydantic import SecretStr

from jornada import s3 as storage

pytestmark = pytest.mark.services

MiB = 1024 * 1024


@pytest.fixture
def prefix(s3):
    """A private folder of bronze for one test, removed afterwards."""
    p = f"_tests/{uuid.uuid4().hex[:12]}/"
    yield p
    storage.delete_prefix("bronze", p, s=s3)


def test_the_lake_buckets_exist_and_creating_them_again_is_a_no_op(s3):
    names = {b.name for b in storage.client(s3).list_buckets()}
    assert set(storage.BUCKETS) <= names
    assert {"bronze", "silver", "gold", "models"} <= set(storage.BUCKETS)
    assert storage.ensure_buckets(s3, log=lambda *_: None) == []
    # a brand-new bucket: created once, then left alone
    extra = f"t-{uuid.uuid4().hex[:10]}"
    try:
        assert storage.ensure_buckets(s3, log=lambda *_: None, buckets=(extra,)) == [extra]
        assert storage.ensure_buckets(s3, log=lambda *_: None, buckets=(extra,)) == []
        assert storage.client(s3).bucket_exists(extra)
    finally:
        storage.client(s3).remove_bucket(extra)
    assert not storage.client(s3).bucket_exists(extra)


def test_put_get_list_delete(s3, prefix):
    keys = [f"{prefix}a.txt", f"{prefix}sub/b.json", f"{prefix}sub/c.bin"]
    for i, key in enumerate(keys):
        storage.put_bytes("bronze", key, f"payload {i}".encode(), s=s3)
    assert storage.get_bytes("bronze", keys[1], s=s3) == b"payload 1"
    assert sorted(storage.list_keys("bronze", prefix, s=s3)) == sorted(keys)
    top = sorted(storage.list_keys("bronze", prefix, recursive=False, s=s3))
    assert top == [f"{prefix}a.txt", f"{prefix}sub/"]
    storage.client(s3).remove_object("bronze", keys[0])
    with pytest.raises(S3Error) as err:
        storage.get_bytes("bronze", keys[0], s=s3)
    assert err.value.code == "NoSuchKey"
    assert storage.delete_prefix("bronze", prefix, s=s3) == 2
    assert list(storage.list_keys("bronze", prefix, s=s3)) == []


def test_delete_prefix_leaves_no_folder_behind(s3, prefix):
    """SeaweedFS keeps a folder when its last object goes and answers HEAD `folder/` with 200:
    S3A then sees a directory there, and an MLlib save to that path fails even with overwrite."""
    storage.put_bytes("bronze", f"{prefix}model/metadata/part-00000", b"{}", s=s3)
    storage.put_bytes("bronze", f"{prefix}model/stages/0/data.parquet", b"x", s=s3)
    assert storage.delete_prefix("bronze", prefix, s=s3) == 2
    for folder in ("model/metadata/", "model/stages/0/", "model/stages/", "model/", ""):
        with pytest.raises(S3Error) as err:
            storage.client(s3).stat_object("bronze", prefix + folder)
        assert err.value.code == "NoSuchKey", folder
    assert list(storage.client(s3).list_objects("bronze", prefix=prefix)) == []


def test_multipart_upload_of_three_parts(s3, prefix):
    data = os.urandom(11 * MiB)  # 5 MiB + 5 MiB + 1 MiB
    key = f"{prefix}big.bin"
    c = storage.client(s3)
    result = c.put_object("bronze", key, io.BytesIO(data), len(data), part_size=5 * MiB)
    # a multipart object's ETag is "<md5 of the parts' md5s>-<number of parts>"
    assert result.etag.strip('"').endswith("-3"), result.etag
    stat = c.stat_object("bronze", key)
    assert stat.size == len(data)
    back = storage.get_bytes("bronze", key, s=s3)
    assert hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest()


def test_presigned_get_works_then_expires(s3, prefix):
    key = f"{prefix}shared.txt"
    storage.put_bytes("bronze", key, b"for your eyes only", s=s3)
    url = storage.presigned_get("bronze", key, expires=timedelta(seconds=2), s=s3)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=2" in url
    first = requests.get(url, timeout=5)
    assert first.status_code == 200 and first.content == b"for your eyes only"
    time.sleep(4)
    late = requests.get(url, timeout=5)
    assert late.status_code == 403, late.text
    assert "expired" in late.text.lower() or "AccessDenied" in late.text


def test_anonymous_requests_are_refused(s3, prefix):
    key = f"{prefix}private.txt"
    storage.put_bytes("bronze", key, b"secret", s=s3)
    base = s3.s3_endpoint
    assert requests.get(f"{base}/", timeout=5).status_code == 403               # list buckets
    assert requests.get(f"{base}/bronze?list-type=2", timeout=5).status_code == 403
    got = requests.get(f"{base}/bronze/{key}", timeout=5)
    assert got.status_code == 403 and b"secret" not in got.content
    put = requests.put(f"{base}/bronze/{prefix}anonymous.txt", data=b"x", timeout=5)
    assert put.status_code == 403
    assert f"{prefix}anonymous.txt" not in set(storage.list_keys("bronze", prefix, s=s3))


def test_a_wrong_secret_or_an_unknown_key_is_refused(s3):
    with pytest.raises(S3Error) as err:
        storage.client(s3, secret_key="not-the-secret").list_buckets()
    assert err.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId")
    stranger = s3.replace(s3_access_key=SecretStr("AKIANOBODY1234567890"))
    with pytest.raises(S3Error) as err:
        storage.client(stranger).list_buckets()
    assert err.value.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")


def test_the_store_is_on_loopback_and_its_identities_file_is_private(s3):
    if s3.in_compose:
        pytest.skip("compose: MinIO's own configuration")
    import psutil

    from jornada.services import stack

    st = stack(s3)
    svc = st.services["s3"]
    pid = st.running_pid(svc)
    assert pid
    ports = set(svc.ports(s3))
    listening = {c.laddr for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
                 for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert {a.port for a in listening} == ports, "weed listens on exactly the declared ports"
    assert {a.ip for a in listening} <= {"127.0.0.1", "::ffff:127.0.0.1"}
    identities = s3.stack_dir / "data" / "s3" / "identities.json"
    assert identities.stat().st_mode & 0o077 == 0
    assert s3.s3_secret_key.get_secret_value() not in " ".join(psutil.Process(pid).cmdline())
