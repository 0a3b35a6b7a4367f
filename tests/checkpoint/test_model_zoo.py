"""model_zoo.fetch: local paths, download once from a local HTTP server, sha256 checks."""

import hashlib
import http.server
import os
import threading

import pytest

from slowfast_atfr.checkpoint import model_zoo


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; `.requests` lists the paths asked."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    (root / "zoo").mkdir(parents=True)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.root = root
    httpd.requests = requests
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _publish(server, name: str, payload: bytes) -> tuple[str, str]:
    (server.root / "zoo" / name).write_bytes(payload)
    return f"{server.base}/zoo/{name}", hashlib.sha256(payload).hexdigest()


def test_url_is_downloaded_once_and_verified(server, tmp_path):
    url, digest = _publish(server, "x3d_s.pyth", os.urandom(4096))
    cache = tmp_path / "cache"
    first = model_zoo.fetch(url, sha256=digest, cache_dir=str(cache))
    assert open(first, "rb").read() == (server.root / "zoo" / "x3d_s.pyth").read_bytes()
    assert first.startswith(str(cache)) and first.endswith(os.path.join("zoo", "x3d_s.pyth"))
    assert server.requests == ["/zoo/x3d_s.pyth"]
    second = model_zoo.fetch(url, sha256=digest, cache_dir=str(cache))
    assert second == first
    assert len(server.requests) == 1, "a cached file must not be downloaded again"
    assert not [p for p in os.listdir(os.path.dirname(first)) if p.endswith(".tmp")]


def test_wrong_sha256_is_rejected_and_the_file_deleted(server, tmp_path):
    url, digest = _publish(server, "bad.pyth", b"not the file you expect")
    wrong = "0" * 64
    with pytest.raises(ValueError) as err:
        model_zoo.fetch(url, sha256=wrong, cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert url in message and wrong in message and digest in message
    assert not os.path.exists(model_zoo.cached_path(url, str(tmp_path / "cache")))
    # The next fetch downloads again instead of trusting the bad file.
    model_zoo.fetch(url, sha256=digest, cache_dir=str(tmp_path / "cache"))
    assert len(server.requests) == 2


def test_known_sha256_table_is_used(server, tmp_path, monkeypatch):
    url, digest = _publish(server, "known.pyth", b"published weights")
    monkeypatch.setitem(model_zoo.KNOWN_SHA256, url, "f" * 64)
    with pytest.raises(ValueError, match="sha256 mismatch"):
        model_zoo.fetch(url, cache_dir=str(tmp_path / "cache"))
    monkeypatch.setitem(model_zoo.KNOWN_SHA256, url, digest)
    assert os.path.isfile(model_zoo.fetch(url, cache_dir=str(tmp_path / "cache")))


def test_cache_dir_from_environment(server, tmp_path, monkeypatch):
    url, _ = _publish(server, "env.pyth", b"abc")
    monkeypatch.setenv(model_zoo.CACHE_ENV, str(tmp_path / "envcache"))
    assert model_zoo.fetch(url).startswith(str(tmp_path / "envcache"))
    # An explicit folder (MODEL_ZOO_CACHE_DIR) wins over the environment.
    assert model_zoo.fetch(url, cache_dir=str(tmp_path / "cfg")).startswith(str(tmp_path / "cfg"))


def test_missing_url_raises(server, tmp_path):
    url = f"{server.base}/zoo/absent.pyth"
    with pytest.raises(OSError, match=f"could not download {url}"):
        model_zoo.fetch(url, cache_dir=str(tmp_path / "cache"))
    local = model_zoo.cached_path(url, str(tmp_path / "cache"))
    left = [p for p in os.listdir(os.path.dirname(local)) if not p.endswith(".lock")]
    assert not left, left


def test_local_paths(tmp_path):
    path = tmp_path / "w.pyth"
    path.write_bytes(b"weights")
    assert model_zoo.fetch(str(path)) == str(path)
    digest = hashlib.sha256(b"weights").hexdigest()
    assert model_zoo.fetch(str(path), sha256=digest) == str(path)
    with pytest.raises(ValueError, match="sha256 mismatch"):
        model_zoo.fetch(str(path), sha256="1" * 64)
    assert path.exists(), "a user's own file is never deleted"
    with pytest.raises(FileNotFoundError, match="nope.pyth"):
        model_zoo.fetch(str(tmp_path / "nope.pyth"))


def test_cached_path_layout(tmp_path):
    url = "https://dl.fbaipublicfiles.com/pyslowfast/x3d_models/x3d_s.pyth"
    expected = tmp_path / "dl.fbaipublicfiles.com" / "pyslowfast" / "x3d_models" / "x3d_s.pyth"
    assert model_zoo.cached_path(url, str(tmp_path)) == str(expected)
    assert model_zoo.is_url(url) and not model_zoo.is_url(str(expected))


def test_errors_name_the_config_key(server, tmp_path):
    key = "TEST.CHECKPOINT_FILE_PATH"
    with pytest.raises(FileNotFoundError, match=rf"nope.pyth \({key}\) does not exist"):
        model_zoo.fetch(str(tmp_path / "nope.pyth"), origin=key)
    path = tmp_path / "w.pyth"
    path.write_bytes(b"weights")
    with pytest.raises(ValueError, match=rf"sha256 mismatch for {path} \({key}\)"):
        model_zoo.fetch(str(path), sha256="1" * 64, origin=key)
    url = f"{server.base}/zoo/absent.pyth"
    with pytest.raises(OSError, match=rf"could not download {url} \({key}\)"):
        model_zoo.fetch(url, cache_dir=str(tmp_path / "cache"), origin=key)
