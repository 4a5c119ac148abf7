"""The azure:// blob driver: block blobs in one container, SHA-256 kept in the blob metadata."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobBlock, BlobClient, BlobServiceClient, LinearRetry

from canopy.blob.base import CHUNK_SIZE, BlobInfo, BlobStore, StreamDigest, iter_chunks, validate_key
from canopy.config import Config, load_config
from canopy.errors import ConfigError, Conflict, NotFound, Unavailable

BLOCK_SIZE = 4 * CHUNK_SIZE
CONNECTION_TIMEOUT_S = 3
READ_TIMEOUT_S = 60
# Two quick retries: transient faults are absorbed, yet an unreachable endpoint fails within
# seconds when refused and ~15 s at worst when black-holed (3 connects of 3 s plus back-off).
RETRY_TOTAL = 2
RETRY_BACKOFF_S = 1

_CONTAINER_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_METADATA_KEY = "sha256"


def _service_client(config: Config) -> BlobServiceClient:
    """A client from CANOPY_AZURE_CONNECTION_STRING, or CANOPY_AZURE_ACCOUNT + CANOPY_AZURE_KEY."""
    options: dict[str, Any] = {
        "retry_policy": LinearRetry(
            backoff=RETRY_BACKOFF_S, retry_total=RETRY_TOTAL, random_jitter_range=RETRY_BACKOFF_S
        ),
        "connection_timeout": CONNECTION_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "max_single_get_size": CHUNK_SIZE,
        "max_chunk_get_size": CHUNK_SIZE,
    }
    if config.azure_connection_string:
        try:
            return BlobServiceClient.from_connection_string(config.azure_connection_string, **options)
        except ValueError as exc:
            raise ConfigError(f"CANOPY_AZURE_CONNECTION_STRING is not valid: {exc}") from exc
    if config.azure_account and config.azure_key:
        endpoint = config.azure_endpoint or f"https://{config.azure_account}.blob.core.windows.net"
        credential = {"account_name": config.azure_account, "account_key": config.azure_key}
        return BlobServiceClient(endpoint, credential=credential, **options)
    raise ConfigError(
        "azure:// blob URLs need credentials: set CANOPY_AZURE_CONNECTION_STRING, "
        "or CANOPY_AZURE_ACCOUNT and CANOPY_AZURE_KEY (and CANOPY_AZURE_ENDPOINT if not public Azure)."
    )


class AzureBlobStore(BlobStore):
    """Objects as block blobs in the container named by azure://<container>, created if missing."""

    def __init__(self, url: str, config: Config | None = None) -> None:
        parts = urlsplit(url)
        if parts.path.strip("/") or not _CONTAINER_NAME.match(parts.netloc):
            raise ConfigError(
                f"CANOPY_BLOB_URL={url!r} is not valid; expected azure://<container> with a "
                "container name of 3-63 lower-case letters, digits and single hyphens."
            )
        service = _service_client(config or load_config())
        self.endpoint: str = service.url
        self._container = service.get_container_client(parts.netloc)
        with self._errors(), suppress(ResourceExistsError):
            self._container.create_container()

    def put(self, key: str, data: bytes | BinaryIO | Iterable[bytes]) -> BlobInfo:
        """Stage the data block by block and commit them with the checksum in one atomic step."""
        blob = self._blob(key)
        digest = StreamDigest()
        upload = uuid.uuid4().hex  # unique block ids, so concurrent uploads cannot mix blocks
        blocks = []
        with self._errors(key):
            for index, chunk in enumerate(digest.feed(iter_chunks(data, BLOCK_SIZE))):
                block = BlobBlock(block_id=f"{upload}-{index:06d}")
                blob.stage_block(block.id, chunk, length=len(chunk))
                blocks.append(block)
            blob.commit_block_list(blocks, metadata={_METADATA_KEY: digest.sha256})
        return BlobInfo(key, digest.size, digest.sha256)

    def open(self, key: str) -> Iterator[bytes]:
        """Stream an object's bytes in CHUNK_SIZE chunks; raises NotFound."""
        with self._errors(key):
            downloader = self._blob(key).download_blob()
        return self._stream(key, downloader.chunks())

    def info(self, key: str) -> BlobInfo:
        """Size and SHA-256 of an object; raises NotFound."""
        with self._errors(key):
            properties = self._blob(key).get_blob_properties()
        return BlobInfo(key, properties.size, self._sha256(key, properties.metadata))

    def list(self, prefix: str = "") -> list[BlobInfo]:
        """Objects whose key starts with prefix, sorted by key."""
        with self._errors():
            blobs = [
                (blob.name, blob.size, blob.metadata)
                for blob in self._container.list_blobs(name_starts_with=prefix or None, include=["metadata"])
            ]
        return sorted(
            (BlobInfo(name, size, self._sha256(name, metadata)) for name, size, metadata in blobs),
            key=lambda info: info.key,
        )

    def delete(self, key: str) -> None:
        """Remove an object and its snapshots; a missing key is not an error."""
        with self._errors(key), suppress(ResourceNotFoundError):
            self._blob(key).delete_blob(delete_snapshots="include")

    def exists(self, key: str) -> bool:
        """Whether an object is stored under key."""
        with self._errors(key):
            return bool(self._blob(key).exists())

    def _blob(self, key: str) -> BlobClient:
        """The client of one blob, after validating the key."""
        return self._container.get_blob_client(validate_key(key))

    def _stream(self, key: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """Yield downloaded chunks, translating errors raised mid-stream."""
        with self._errors(key):
            yield from chunks

    def _sha256(self, key: str, metadata: dict[str, str] | None) -> str:
        """The checksum recorded at upload, or computed by reading blobs written by other tools."""
        recorded = (metadata or {}).get(_METADATA_KEY)
        if recorded:
            return recorded
        digest = StreamDigest()
        for _ in digest.feed(self.open(key)):
            pass
        return digest.sha256

    @contextmanager
    def _errors(self, key: str = "") -> Iterator[None]:
        """Translate Azure SDK errors into platform errors."""
        try:
            yield
        except ResourceNotFoundError as exc:
            raise NotFound(f"No blob {key!r}.") from exc
        except ResourceModifiedError as exc:
            raise Conflict(f"Blob {key!r} was replaced while it was read; retry.") from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise self._unavailable(exc.message) from exc
        except HttpResponseError as exc:
            if isinstance(exc, ClientAuthenticationError) or exc.status_code in (401, 403):
                raise ConfigError(
                    f"Azure Blob storage at {self.endpoint} refused the credentials; check "
                    "CANOPY_AZURE_CONNECTION_STRING or CANOPY_AZURE_ACCOUNT/CANOPY_AZURE_KEY "
                    f"({f'HTTP {exc.status_code}' if exc.status_code else exc.message})"
                ) from exc
            if (exc.status_code or 0) >= 500:
                raise self._unavailable(exc.message) from exc
            raise

    def _unavailable(self, reason: str) -> Unavailable:
        """The error for an endpoint that cannot be reached or keeps failing."""
        return Unavailable(f"Azure Blob storage at {self.endpoint} is unavailable: {reason}")
