"""`s3://` storage through boto3: S3 and S3-compatible stores (MinIO, IBM COS, GCS interop).

An upload becomes visible only when its completing request lands; a stopped transfer drops its
connection at the next socket write or read, and publishes nothing.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from contracts import names
from engine.storage.base import (
    ObjectMissing,
    Progress,
    StorageError,
    check_stop,
    guarded,
    partial_name,
)
from engine.threads import Stopped


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


PART = 8 << 20
"""S3 part size (boto3's default); the last part may be smaller."""
SINGLE_PUT_MAX = 64 << 10
"""Files up to this size go in one PUT after a last check of the stop event: a send about as short as a
completing request's. Larger ones go in parts."""
PARTS_IN_FLIGHT = 4
WIRE_CHUNK = 16 << 10
"""Bytes read from a download between checks of the stop event (about a second at tens of KB/s)."""
DOWNLOAD_ATTEMPTS = 5
"""Reads of an object cut short mid-body: each retry resumes with a Range request."""


class _Halt(CancelledError):
    """Raised inside botocore when the stop event is set.

    botocore retries errors raised while sending (it wraps them as HTTP client
    errors), except a `concurrent.futures.CancelledError`, which passes through
    at once: a stopped transfer is not retried and its connection is dropped.
    """


class Flag(Protocol):
    """What a transfer checks to know it was stopped: a `threading.Event`, or `_Either`."""

    def is_set(self) -> bool: ...


class _Either:
    def __init__(self, *flags: Flag) -> None:
        self._flags = flags

    def is_set(self) -> bool:
        return any(flag.is_set() for flag in self._flags)


_watched = threading.local()
"""The stop event of the transfer running on this thread, seen by the client's event hooks."""


@contextmanager
def _watching(stop: Flag | None) -> Iterator[None]:
    previous = getattr(_watched, "stop", None)
    _watched.stop = stop
    try:
        yield
    finally:
        _watched.stop = previous


def _halt_if_stopped(**_: Any) -> None:
    """Before each request is sent and before each retry: give up once the transfer was stopped."""
    stop: Flag | None = getattr(_watched, "stop", None)
    if stop is not None and stop.is_set():
        raise _Halt()


class _Meter:
    """Bytes on the wire across the parts of one upload, reported as a running total."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._total = 0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self._total += count
            if self._progress is not None:
                self._progress(self._total)


class _PartBody:
    """One byte range of a file as a request body.

    Every read checks the stop event, so a send in progress stops within one
    socket write. Reads made before the request leaves (checksums, the payload
    signature) and re-reads after a retry rewinds are not counted as sent.
    """

    def __init__(self, path: Path, offset: int, length: int, stop: Flag, meter: _Meter) -> None:
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._offset = offset
        self._length = length
        self._position = 0
        self._counted = 0
        self._stop = stop
        self._meter = meter
        self.sending = False

    def read(self, amount: int | None = -1) -> bytes:
        if self._stop.is_set():
            raise _Halt()
        left = self._length - self._position
        want = left if amount is None or amount < 0 else min(amount, left)
        self._file.seek(self._offset + self._position)
        data = self._file.read(want)
        self._position += len(data)
        if self.sending and self._position > self._counted:
            self._meter.add(self._position - self._counted)
            self._counted = self._position
        return data

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._length}[whence]
        self._position = max(0, min(self._length, base + position))
        return self._position

    def tell(self) -> int:
        return self._position

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        self._file.close()


def _part_body(request: Any) -> _PartBody | None:
    body = getattr(request, "body", None)
    body = getattr(body, "_raw", body)  # inside botocore's aws-chunked wrapper (trailing checksums)
    return body if isinstance(body, _PartBody) else None


def _not_sending(request: Any, **_: Any) -> None:
    if (body := _part_body(request)) is not None:
        body.sending = False


def _sending(request: Any, **_: Any) -> None:
    if (body := _part_body(request)) is not None:
        body.sending = True


RETRYABLE_READS: tuple[type[BaseException], ...] = (socket.timeout, ConnectionError)
"""A download body cut short: resumed from where it broke off (with botocore's streaming errors)."""


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
        events = self._client.meta.events
        events.register_first("before-send.s3", _halt_if_stopped)
        events.register_first("needs-retry.s3", _halt_if_stopped)
        # Around the signer, which reads the whole body to hash it when the endpoint is plain HTTP.
        events.register_first("request-created.s3", _not_sending)
        events.register_last("request-created.s3", _sending)

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
            if missing:
                raise ObjectMissing(f"{failed} (no such object)") from None
            raise StorageError(failed) from None
        except NoCredentialsError:
            message = f"s3 {action} {uri} failed in bucket {bucket!r}: no credentials found (AWS_ACCESS_KEY_ID, ...)"
            raise StorageError(message, names.FORBIDDEN_PATH) from None
        except BotoCoreError as err:
            raise StorageError(f"s3 {action} {uri} failed in bucket {bucket!r}: {type(err).__name__}") from None

    def exists(self, uri: str) -> bool:
        try:
            self.size(uri)
        except StorageError as err:
            if isinstance(err, ObjectMissing):
                return False
            raise
        return True

    def size(self, uri: str) -> int:
        bucket, key = split_s3(uri)
        head = self._call(uri, "head", self._client.head_object, Bucket=bucket, Key=key)
        return int(head["ContentLength"])

    def download(
        self, uri: str, dest: Path, *, stop: threading.Event | None = None, progress: Progress | None = None
    ) -> None:
        stop = stop or threading.Event()
        partial = partial_name(dest)
        try:
            with _watching(stop), open(partial, "wb") as out:
                self._call(uri, "download", self._read, uri, out.write, stop, guarded(progress))
            check_stop(stop, f"download of {uri}")
            os.replace(partial, dest)
        except _Halt:
            raise Stopped(f"download of {uri} stopped") from None
        finally:
            partial.unlink(missing_ok=True)

    def head(self, uri: str) -> dict[str, Any]:
        """The object's size, ETag and user metadata (HEAD); `ObjectMissing` when there is none."""
        bucket, key = split_s3(uri)
        answer = self._call(uri, "head", self._client.head_object, Bucket=bucket, Key=key)
        return {
            "size": int(answer["ContentLength"]),
            "etag": str(answer.get("ETag", "")),
            "metadata": dict(answer.get("Metadata", {})),
        }

    def digest(self, uri: str, *, stop: threading.Event | None = None, if_match: str | None = None) -> tuple[str, int]:
        """SHA-256 (hex) and length of the object's bytes as read now, streamed: nothing lands on disk.

        With `if_match` (an ETag), the read is of that version only: a replaced object is an error
        (`StorageError`), never a mix of two versions' bytes.
        """
        stop = stop or threading.Event()
        hashed = hashlib.sha256()
        size = 0

        def take(chunk: bytes) -> None:
            nonlocal size
            hashed.update(chunk)
            size += len(chunk)

        try:
            with _watching(stop):
                self._call(uri, "read", self._read, uri, take, stop, None, if_match)
        except _Halt:
            raise Stopped(f"read of {uri} stopped") from None
        return hashed.hexdigest(), size

    def _read(
        self,
        uri: str,
        write: Callable[[bytes], Any],
        stop: threading.Event,
        progress: Progress | None,
        if_match: str | None = None,
    ) -> None:
        """Every byte of the object, in order, to `write`; a body cut short goes on from where it broke off."""
        from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

        botocore_errors = (IncompleteReadError, ReadTimeoutError, ResponseStreamingError)
        retryable: tuple[type[BaseException], ...] = (*botocore_errors, *RETRYABLE_READS)
        bucket, key = split_s3(uri)
        done, etag, cut = 0, if_match or "", 0
        while True:
            # After a cut, go on from where it broke off, and only if the object is still the same one.
            resume = {"Range": f"bytes={done}-"} if done else {}
            response = self._client.get_object(Bucket=bucket, Key=key, **resume, **({"IfMatch": etag} if etag else {}))
            etag = etag or response.get("ETag", "")
            body = response["Body"]
            try:
                for chunk in body.iter_chunks(WIRE_CHUNK):
                    if stop.is_set():
                        raise _Halt()
                    write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done)
                return
            except retryable:
                cut += 1
                if cut >= DOWNLOAD_ATTEMPTS or not etag:
                    raise
            finally:
                body.close()

    def upload(
        self,
        src: Path,
        uri: str,
        *,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Publish `src` at `uri`; nothing is visible under the key until the last request.

        Small files go in one PUT. Larger ones go as a multipart upload: its parts
        are invisible, the stop event is checked once they are all stored, and only
        then is the short completing request sent. A stopped or failed upload is
        aborted, so no parts are left behind either. `metadata` (user metadata) lands
        with the bytes, in the same request that makes them visible.
        """
        stop = stop or threading.Event()
        try:
            with _watching(stop):
                self._call(uri, "upload", self._upload, uri, src, stop, guarded(progress), metadata or {})
        except _Halt:
            raise Stopped(f"upload to {uri} stopped") from None

    def _checksum(self) -> dict[str, str]:
        """What s3transfer sends by default: CRC32 of every part, listed again when completing."""
        if self._client.meta.config.request_checksum_calculation == "when_supported":
            return {"ChecksumAlgorithm": "CRC32"}
        return {}

    def _upload(
        self, uri: str, src: Path, stop: threading.Event, progress: Progress | None, metadata: dict[str, str]
    ) -> None:
        bucket, key = split_s3(uri)
        size = src.stat().st_size
        described = {"Metadata": metadata} if metadata else {}
        if size <= SINGLE_PUT_MAX:
            data = src.read_bytes()
            check_stop(stop, f"upload to {uri}")
            self._client.put_object(Bucket=bucket, Key=key, Body=data, **described)
            if progress is not None:
                progress(len(data))
            return
        checksum = self._checksum()
        upload_id = self._client.create_multipart_upload(Bucket=bucket, Key=key, **checksum, **described)["UploadId"]
        try:
            parts = self._send_parts(src, size, bucket, key, upload_id, stop, _Meter(progress), checksum)
            # The last moment a stopped attempt can back out: nothing under the key yet.
            check_stop(stop, f"upload to {uri}")
            self._client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with _watching(None), suppress(Exception):
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise

    def _send_parts(
        self,
        src: Path,
        size: int,
        bucket: str,
        key: str,
        upload_id: str,
        stop: threading.Event,
        meter: _Meter,
        checksum: dict[str, str],
    ) -> list[dict[str, Any]]:
        # One failed part stops the others: the whole upload is aborted anyway.
        halt = threading.Event()
        either = _Either(stop, halt)

        def send(number: int) -> dict[str, Any]:
            offset = (number - 1) * PART
            body = _PartBody(src, offset, min(PART, size - offset), either, meter)
            try:
                with _watching(either):
                    answer = self._client.upload_part(
                        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **checksum
                    )
            except BaseException:
                halt.set()
                raise
            finally:
                body.close()
            part = {"ETag": answer["ETag"], "PartNumber": number}
            for name in ("ChecksumCRC32",) if checksum else ():
                if name in answer:
                    part[name] = answer[name]
            return part

        numbers = range(1, (size + PART - 1) // PART + 1)
        with ThreadPoolExecutor(max_workers=PARTS_IN_FLIGHT, thread_name_prefix="s3-part") as pool:
            futures = [pool.submit(send, number) for number in numbers]
        errors = [error for future in futures if (error := future.exception()) is not None]
        # The error that halted the others, not the halts it caused.
        for error in sorted(errors, key=lambda e: isinstance(e, _Halt)):
            raise error
        return [future.result() for future in futures]

    def local_path(self, uri: str) -> Path | None:
        return None

    def delete(self, uri: str) -> bool:
        bucket, key = split_s3(uri)
        if not self.exists(uri):
            return False
        self._call(uri, "delete", self._client.delete_object, Bucket=bucket, Key=key)
        return True

    def create(self, data: bytes, uri: str) -> bool:
        from botocore.exceptions import ClientError

        bucket, key = split_s3(uri)

        def put() -> bool:
            try:
                # A conditional PUT: S3 answers 412 when the key already exists.
                self._client.put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
            except ClientError as err:
                if str(err.response.get("Error", {}).get("Code", "")) in {"PreconditionFailed", "412"}:
                    return False
                raise
            return True

        return bool(self._call(uri, "create", put))

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
