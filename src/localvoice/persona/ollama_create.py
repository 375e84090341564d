"""Register a Modelfile with an Ollama server the way ``ollama create`` does: ``POST /api/create``.

As the ``ollama`` CLI and Python client do (Ollama 0.12, ollama-python 0.6.1): a FROM or ADAPTER that
is a local file (or a safetensors folder) is hashed and uploaded as a blob first — ``HEAD
/api/blobs/sha256:<hex>``, and only on 404 ``POST`` the raw bytes — then named in ``files`` /
``adapters``; otherwise FROM goes as ``from``. The reply is a stream of ``{"status"}`` lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from localvoice.backends.llm.endpoints import ollama_base_url
from localvoice.errors import BackendError, BackendUnavailableError, BadInputError
from localvoice.persona.modelfile import Modelfile

Progress = Callable[[str], None]
_CHUNK = 1 << 20


def local_path(value: str, base_dir: Path) -> Path | None:
    """The file or folder a FROM/ADAPTER value names, relative to the Modelfile's folder; else None."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    return path if path.exists() else None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def create_body(
    name: str, modelfile: Modelfile, files: dict[str, str], adapters: dict[str, str]
) -> dict[str, Any]:
    """The ``/api/create`` request: typed values, only the fields the Modelfile has."""
    body: dict[str, Any] = {"model": name, "stream": True}
    if files:
        body["files"] = files
    else:
        body["from"] = modelfile.from_
    if adapters:
        body["adapters"] = adapters
    for key in ("template", "system", "license"):
        value = getattr(modelfile, key)
        if value is not None:
            body[key] = value
    if modelfile.parameters:
        body["parameters"] = {
            k: list(v) if isinstance(v, list) else v for k, v in modelfile.parameters.items()
        }
    if modelfile.messages:
        body["messages"] = [{"role": m.role, "content": m.content} for m in modelfile.messages]
    return body


class OllamaCreator:
    def __init__(self, host: str, progress: Progress, timeout_s: float = 600.0) -> None:
        self.host = ollama_base_url(host)
        self.progress = progress
        self._http = httpx.Client(base_url=self.host, timeout=httpx.Timeout(timeout_s, connect=3.0))

    def close(self) -> None:
        self._http.close()

    def create(self, name: str, modelfile: Modelfile, base_dir: Path) -> None:
        files: dict[str, str] = {}
        source = local_path(modelfile.from_, base_dir)
        if source is not None:
            files = self._upload_tree(source)
        adapters: dict[str, str] = {}
        for adapter in modelfile.adapters:
            path = local_path(adapter, base_dir)
            if path is None:
                raise BadInputError(f"ADAPTER {adapter!r} is not a file (looked in {base_dir})")
            adapters |= self._upload_tree(path)
        body = create_body(name, modelfile, files, adapters)
        for status in self._stream("/api/create", body):
            self.progress(status)

    def delete(self, name: str) -> None:
        response = self._request("DELETE", "/api/delete", json={"model": name})
        if response.status_code not in (200, 404):  # 404: already gone
            raise self._error(response)

    def _upload_tree(self, path: Path) -> dict[str, str]:
        paths = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        if not paths:
            raise BadInputError(f"{path} is an empty folder; FROM needs a .gguf file or a safetensors folder")
        return {(p.name if p == path else str(p.relative_to(path))): self._upload(p) for p in paths}

    def _upload(self, path: Path) -> str:
        digest = file_digest(path)
        if self._request("HEAD", f"/api/blobs/{digest}").status_code == 200:
            self.progress(f"{path.name}: the server already has {digest[:19]}…")
            return digest
        self.progress(f"uploading {path.name} ({path.stat().st_size / 1e6:.1f} MB)")
        with path.open("rb") as stream:
            response = self._request("POST", f"/api/blobs/{digest}", content=stream)
        if response.status_code not in (200, 201):
            raise self._error(response)
        return digest

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None

    def _stream(self, path: str, body: dict[str, Any]) -> Iterator[str]:
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._error(response)
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                    except ValueError:
                        raise BackendError(
                            f"Ollama at {self.host} sent a line that is not JSON: {line[:80]!r}"
                        ) from None
                    if "error" in item:
                        raise BackendError(f"Ollama could not create the model: {item['error']}")
                    if item.get("status"):
                        yield str(item["status"])
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None

    def _unreachable(self, error: httpx.HTTPError) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"cannot reach Ollama at {self.host} ({type(error).__name__}); start it with `ollama serve` "
            "or use the embedded backend (--backend embedded)"
        )

    def _error(self, response: httpx.Response) -> BackendError:
        try:
            message = str(response.json().get("error", ""))
        except ValueError:
            message = response.text.strip()[:200]
        return BackendError(
            f"Ollama at {self.host} answered {response.status_code}: {message or 'no detail'}"
        )
