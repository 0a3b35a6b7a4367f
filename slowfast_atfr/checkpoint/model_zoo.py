"""Model-zoo files: an http(s) URL becomes a cached, checksum-verified local file.

Upstream PySlowFast registers no HTTP handler, so its model-zoo URLs had to be downloaded by
hand; here `TRAIN.CHECKPOINT_FILE_PATH https://...` just works. Files are downloaded once
into the cache folder (iopath's `download`: a partial `.tmp` file renamed when complete,
under a file lock so several processes download once) and checked against a sha256.
"""

import hashlib
import os
from typing import Optional
from urllib.parse import urlparse

from iopath.common.download import download
from iopath.common.file_io import file_lock

from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

# Environment variable naming the cache folder when no explicit folder is configured.
CACHE_ENV = "SLOWFAST_ATFR_CACHE"
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "slowfast_atfr")

# sha256 of model-zoo files we published or verified, by URL (see MODEL_ZOO.md, "Publishing").
# Upstream PySlowFast does not publish checksums; their URLs are verified only when a hash
# is given (TRAIN.CHECKPOINT_SHA256 / TEST.CHECKPOINT_SHA256).
KNOWN_SHA256: dict[str, str] = {}


def is_url(path: str) -> bool:
    """True for http(s) URLs, which `fetch` downloads."""
    return urlparse(path).scheme in ("http", "https")


def describe(path: str, origin: Optional[str] = None) -> str:
    """`path (origin)`, so an error names the config key the path came from."""
    return f"{path} ({origin})" if origin else path


def resolve_cache_dir(cache_dir: Optional[str] = None) -> str:
    """Cache folder: `cache_dir` (MODEL_ZOO_CACHE_DIR) if set, else $SLOWFAST_ATFR_CACHE,
    else ~/.cache/slowfast_atfr."""
    return os.path.expanduser(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def sha256sum(path: str, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(url: str, cache_dir: Optional[str] = None) -> str:
    """Where `fetch` keeps `url`: <cache>/<host>/<path of the URL>."""
    parsed = urlparse(url)
    parts = [p for p in parsed.path.split("/") if p not in ("", ".", "..")]
    if not parts:
        raise ValueError(f"URL {url!r} names no file")
    host = parsed.netloc.replace(":", "_")
    return os.path.join(resolve_cache_dir(cache_dir), host, *parts)


def _verify(path: str, expected: str, source: str, delete: bool) -> None:
    actual = sha256sum(path)
    if actual != expected.lower():
        if delete:
            os.remove(path)
        raise ValueError(
            f"sha256 mismatch for {source}: expected {expected.lower()}, got {actual}"
            + (" (the downloaded file was deleted)" if delete else "")
        )


def fetch(
    url_or_path: str,
    sha256: Optional[str] = None,
    cache_dir: Optional[str] = None,
    origin: Optional[str] = None,
) -> str:
    """Local path of a checkpoint given as a local path or an http(s) URL.

    Args:
        url_or_path: a local file (returned as is) or an http(s) URL (downloaded once).
        sha256: expected hex digest; None or "" looks the URL up in `KNOWN_SHA256`. A local
            file is checked too when a digest is given.
        cache_dir: download folder; None or "" = $SLOWFAST_ATFR_CACHE or
            ~/.cache/slowfast_atfr.
        origin: the config key `url_or_path` came from, named in errors.
    Returns:
        Path of a local file.
    Raises:
        FileNotFoundError: a local path that does not exist.
        OSError: the download failed (naming the URL); nothing is left in the cache.
        ValueError: the file's sha256 differs from the expected one (a bad download is
            deleted so the next call downloads again).
    """
    name = describe(url_or_path, origin)
    if not is_url(url_or_path):
        if not os.path.isfile(url_or_path):
            raise FileNotFoundError(f"checkpoint file {name} does not exist")
        if sha256:
            _verify(url_or_path, sha256, name, delete=False)
        return url_or_path
    expected = sha256 or KNOWN_SHA256.get(url_or_path)
    local = cached_path(url_or_path, cache_dir)
    with file_lock(local):
        if os.path.isfile(local):
            logger.info("Using cached %s for %s", local, url_or_path)
        else:
            logger.info("Downloading %s to %s", url_or_path, local)
            try:
                download(url_or_path, os.path.dirname(local),
                         filename=os.path.basename(local), progress=False)
            except OSError as err:
                raise OSError(f"could not download {name}: {err}") from err
        if expected:
            _verify(local, expected, name, delete=True)
        else:
            logger.warning("No sha256 known for %s; the file is not verified.", url_or_path)
    return local
