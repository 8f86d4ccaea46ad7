"""Storage by URI: `file://` on local or shared disk, `s3://` through boto3.

Both publish atomically (write then rename, or a single PUT), so a reader never
sees a half-written file under a final key, and a retried write simply overwrites.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from contracts import names


class StorageError(Exception):
    """A storage problem; `error_type` says whether a retry can help."""

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type

    @property
    def retryable(self) -> bool:
        return self.error_type not in names.NON_RETRYABLE_ERRORS


class Storage(Protocol):
    def exists(self, uri: str) -> bool: ...
    def size(self, uri: str) -> int: ...
    def download(self, uri: str, dest: Path) -> None: ...
    def upload(self, src: Path, uri: str) -> None: ...
    def local_path(self, uri: str) -> Path | None:
        """The file itself when it is on this machine's disk, to avoid a copy."""
        ...

    def delete_prefix(self, uri: str) -> int: ...


def file_path(uri: str) -> Path:
    if not uri.startswith("file://"):
        raise StorageError(f"not a file:// URI: {uri}", names.FORBIDDEN_PATH)
    return Path(unquote(uri[len("file://") :]))


class FileStorage:
    def exists(self, uri: str) -> bool:
        return file_path(uri).is_file()

    def size(self, uri: str) -> int:
        return file_path(uri).stat().st_size

    def download(self, uri: str, dest: Path) -> None:
        shutil.copyfile(file_path(uri), dest)

    def upload(self, src: Path, uri: str) -> None:
        dest = file_path(uri)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.partial")
        try:
            shutil.copyfile(src, partial)
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)

    def local_path(self, uri: str) -> Path | None:
        return file_path(uri)

    def delete_prefix(self, uri: str) -> int:
        path = file_path(uri)
        if path.is_dir():
            count = sum(1 for p in path.rglob("*") if p.is_file())
            shutil.rmtree(path)
            return count
        if path.is_file():
            path.unlink()
            return 1
        return 0


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"s3 URI has no bucket: {uri}", names.FORBIDDEN_PATH)
    return bucket, key


REFUSED_CODES = frozenset(
    {
        "403",  # a HEAD answer has no body, so no code: only the status
        "Forbidden",
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
    }
)
"""S3 answers that mean the credentials (or their permissions) are wrong: retrying cannot help."""


class S3Storage:
    """S3 and S3-compatible stores (MinIO, IBM COS, GCS interop) by endpoint URL.

    Credentials come from boto3's usual chain (environment, files, instance roles)
    and are never logged.
    """

    def __init__(self, endpoint_url: str | None = None, region: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def _call(self, uri: str, action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        bucket, _ = split_s3(uri)
        try:
            return fn(*args, **kwargs)
        except (ClientError, S3UploadFailedError) as err:
            # upload_file wraps the service's answer; the code is on the cause.
            cause = err if isinstance(err, ClientError) else err.__cause__ or err.__context__
            response = cause.response if isinstance(cause, ClientError) else {}
            code = str(response.get("Error", {}).get("Code", "")) or type(err).__name__
            failed = f"s3 {action} {uri} failed in bucket {bucket!r}: {code}"
            if code in REFUSED_CODES:
                # A retry sends the same credentials: fail now, and say where to look.
                raise StorageError(
                    f"{failed} (the credentials were refused, or lack access to this bucket)", names.FORBIDDEN_PATH
                ) from None
            if code == "NoSuchBucket":
                raise StorageError(f"{failed} (the bucket does not exist)", names.FORBIDDEN_PATH) from None
            missing = code in {"404", "NoSuchKey", "NotFound"}
            raise StorageError(failed, names.BAD_ASSET if missing else None) from None
        except NoCredentialsError:
            message = f"s3 {action} {uri} failed in bucket {bucket!r}: no credentials found (AWS_ACCESS_KEY_ID, ...)"
            raise StorageError(message, names.FORBIDDEN_PATH) from None
        except BotoCoreError as err:
            raise StorageError(f"s3 {action} {uri} failed in bucket {bucket!r}: {type(err).__name__}") from None

    def exists(self, uri: str) -> bool:
        try:
            self.size(uri)
        except StorageError as err:
            if err.error_type == names.BAD_ASSET:
                return False
            raise
        return True

    def size(self, uri: str) -> int:
        bucket, key = split_s3(uri)
        head = self._call(uri, "head", self._client.head_object, Bucket=bucket, Key=key)
        return int(head["ContentLength"])

    def download(self, uri: str, dest: Path) -> None:
        bucket, key = split_s3(uri)
        self._call(uri, "download", self._client.download_file, bucket, key, str(dest))

    def upload(self, src: Path, uri: str) -> None:
        # upload_file switches to multipart above 8 MiB; S3 makes the object
        # visible only when the upload completes, so readers never see a partial one.
        bucket, key = split_s3(uri)
        self._call(uri, "upload", self._client.upload_file, str(src), bucket, key)

    def local_path(self, uri: str) -> Path | None:
        return None

    def delete_prefix(self, uri: str) -> int:
        bucket, prefix = split_s3(uri)
        paginator = self._client.get_paginator("list_objects_v2")
        deleted = 0
        for page in self._call(uri, "list", lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix))):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self._call(uri, "delete", self._client.delete_objects, Bucket=bucket, Delete={"Objects": keys})
                deleted += len(keys)
        return deleted


class Storages:
    """Picks the backend by URI scheme; the S3 client is built on first use."""

    def __init__(self, s3_endpoint_url: str | None = None, s3_region: str | None = None) -> None:
        self._file = FileStorage()
        self._s3: S3Storage | None = None
        self._s3_args = (s3_endpoint_url, s3_region)

    def for_uri(self, uri: str) -> Storage:
        if uri.startswith("file://"):
            return self._file
        if uri.startswith("s3://"):
            if self._s3 is None:
                self._s3 = S3Storage(*self._s3_args)
            return self._s3
        raise StorageError(f"unsupported URI scheme: {uri[:80]}", names.FORBIDDEN_PATH)


def confine(uri: str, roots: tuple[str, ...], field: str) -> str:
    """Refuse a URI outside the configured roots, following symlinks for files."""
    for root in roots:
        if uri.startswith("file://") and root.startswith("file://"):
            real = Path(os.path.realpath(file_path(uri)))
            if real.is_relative_to(Path(os.path.realpath(file_path(root)))):
                return uri
        elif uri.startswith(root.rstrip("/") + "/") and uri.startswith("s3://") and "/.." not in uri:
            return uri
    raise StorageError(f"{field}: {uri[:200]} is outside the allowed roots ({', '.join(roots)})", names.FORBIDDEN_PATH)
