"""Neural model weights: the manifest, what is installed in MODELS_DIR, verify / download / install.

Weights never live in git. `separation/models_manifest.json` lists every known model with
the official URL and checksum of each of its files; `MODELS_DIR` (settings.models_dir)
holds the files under their official names (``<signature>-<sha256 prefix>.th``), plus a
demucs bag file ``<model>.yaml`` per complete model, so the same folder also works as a
``demucs --repo`` folder.

This module never imports torch: the API process lists models without paying for it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from burntbeats.settings import Settings

MANIFEST_PATH = Path(__file__).with_name("models_manifest.json")
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 20
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_HEX_RE = re.compile(r"^[0-9a-f]{8,64}$")

# progress(done_bytes, total_bytes or None)
ByteProgress = Callable[[int, "int | None"], None]


class ModelError(Exception):
    """A models-manager failure; the message is meant for the user."""


@dataclass(frozen=True)
class ModelFile:
    name: str
    url: str
    sha256_prefix: str
    sha256: str | None = None

    @property
    def signature(self) -> str:
        """The demucs signature: the file name up to the first '-' (e.g. '955717e8')."""
        return self.name.rsplit(".", 1)[0].split("-", 1)[0]

    def matches(self, digest: str) -> bool:
        if self.sha256 is not None:
            return digest == self.sha256
        return digest.startswith(self.sha256_prefix)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    engine: str
    architecture: str
    title: str
    description: str
    sources: tuple[str, ...]
    sample_rate: int
    files: tuple[ModelFile, ...]
    weights: tuple[tuple[float, ...], ...] | None = None
    segment: float | None = None
    fallbacks: tuple[str, ...] = ()
    license: str = ""
    source: str = ""


# --------------------------------------------------------------------------- manifest


def _parse_file(model: str, raw: dict) -> ModelFile:
    name = str(raw["name"])
    if not _NAME_RE.match(name) or not name.endswith(".th"):
        raise ModelError(f"manifest: model {model!r} has a bad file name {name!r}")
    url = str(raw["url"])
    if urllib.parse.urlparse(url).scheme not in ("https", "http", "file"):
        raise ModelError(f"manifest: model {model!r} file {name}: only https, http or file URLs are allowed")
    prefix = str(raw.get("sha256_prefix") or "").lower()
    full = raw.get("sha256")
    full = str(full).lower() if full else None
    if full is not None and (len(full) != 64 or not _HEX_RE.match(full)):
        raise ModelError(f"manifest: model {model!r} file {name}: sha256 must be 64 hex digits")
    if not prefix and full:
        prefix = full[:8]
    if not _HEX_RE.match(prefix):
        raise ModelError(f"manifest: model {model!r} file {name}: sha256_prefix must be at least 8 hex digits")
    if full is not None and not full.startswith(prefix):
        raise ModelError(f"manifest: model {model!r} file {name}: sha256 and sha256_prefix disagree")
    return ModelFile(name=name, url=url, sha256_prefix=prefix, sha256=full)


def _parse_model(name: str, raw: dict) -> ModelSpec:
    if not _NAME_RE.match(name):
        raise ModelError(f"manifest: bad model name {name!r}")
    try:
        files = tuple(_parse_file(name, f) for f in raw["files"])
        if not files:
            raise ModelError(f"manifest: model {name!r} lists no files")
        sources = tuple(str(s) for s in raw["sources"])
        weights = raw.get("weights")
        if weights is not None:
            weights = tuple(tuple(float(w) for w in row) for row in weights)
            if len(weights) != len(files) or any(len(row) != len(sources) for row in weights):
                raise ModelError(f"manifest: model {name!r}: weights must be one row per file, one column per source")
        segment = raw.get("segment")
        return ModelSpec(
            name=name,
            engine=str(raw.get("engine", "demucs")),
            architecture=str(raw.get("architecture", "")),
            title=str(raw.get("title", name)),
            description=str(raw.get("description", "")),
            sources=sources,
            sample_rate=int(raw.get("sample_rate", 44100)),
            files=files,
            weights=weights,
            segment=float(segment) if segment is not None else None,
            fallbacks=tuple(str(f) for f in raw.get("fallbacks", ())),
            license=str(raw.get("license", "")),
            source=str(raw.get("source", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"manifest: model {name!r} is malformed ({exc})") from None


def _read_manifest(path: Path) -> dict[str, ModelSpec]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model manifest not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"could not read the model manifest {path}: {exc}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ModelError(f"model manifest {path} has no 'models' object")
    return {name: _parse_model(name, raw) for name, raw in models.items()}


def load_manifest(settings: Settings | None = None) -> dict[str, ModelSpec]:
    """The built-in manifest, with settings.models_manifest (if set) merged over it by model name."""
    models = _read_manifest(MANIFEST_PATH)
    extra = getattr(settings, "models_manifest", None) if settings is not None else None
    if extra:
        models.update(_read_manifest(Path(extra)))
    return models


def get_spec(settings: Settings | None, name: str) -> ModelSpec:
    models = load_manifest(settings)
    try:
        return models[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(sorted(models))}") from None


# --------------------------------------------------------------------------- files on disk


def models_dir(settings: Settings) -> Path:
    return Path(settings.models_dir)


def file_path(settings: Settings, f: ModelFile) -> Path:
    return models_dir(settings) / f.name


def is_installed(settings: Settings, spec: ModelSpec) -> bool:
    """All of the model's files are present (checksums are checked by `verify` and at load)."""
    return all(file_path(settings, f).is_file() for f in spec.files)


def sha256_file(path: Path, progress: ByteProgress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as fh:
        while True:
            buf = fh.read(_CHUNK)
            if not buf:
                break
            digest.update(buf)
            done += len(buf)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


# Per-process record of files whose checksum was checked: path -> (size, mtime_ns).
_VERIFIED: dict[str, tuple[int, int]] = {}


def verified_file(settings: Settings, f: ModelFile) -> Path:
    """The path of an installed file whose checksum matches the manifest (checked once per
    process while the file is unchanged). Raises ModelError (missing / mismatch)."""
    path = file_path(settings, f)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ModelError(f"{f.name} is not installed in {models_dir(settings)}") from None
    key = str(path.resolve())
    stamp = (st.st_size, st.st_mtime_ns)
    if _VERIFIED.get(key) == stamp:
        return path
    digest = sha256_file(path)
    if not f.matches(digest):
        raise ModelError(
            f"{path} does not match its published checksum (expected sha256 {f.sha256 or f.sha256_prefix + '...'}, "
            f"got {digest[:len(f.sha256 or f.sha256_prefix)]}...); delete it and download it again"
        )
    _VERIFIED[key] = stamp
    return path


def write_bag_yaml(settings: Settings, spec: ModelSpec) -> Path:
    """`<model>.yaml` in MODELS_DIR, the demucs bag format, so the folder is a demucs repo too."""
    lines = ["models: [" + ", ".join(f"'{f.signature}'" for f in spec.files) + "]"]
    if spec.weights is not None:
        rows = ("[" + ", ".join(repr(w) for w in row) + "]" for row in spec.weights)
        lines.append("weights: [" + ", ".join(rows) + "]")
    if spec.segment is not None:
        seg = spec.segment
        lines.append(f"segment: {int(seg) if float(seg).is_integer() else seg}")
    path = models_dir(settings) / f"{spec.name}.yaml"
    _atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _complete_models(settings: Settings) -> list[str]:
    """Write the bag file of every model whose files are all present; returns their names."""
    done = []
    for spec in load_manifest(settings).values():
        if spec.engine == "demucs" and is_installed(settings, spec):
            write_bag_yaml(settings, spec)
            done.append(spec.name)
    return done


# --------------------------------------------------------------------------- list / verify


def neural_runtime() -> dict:
    """Whether the neural engine's packages are installed (without importing torch)."""
    versions = {}
    for pkg in ("torch", "demucs"):
        if importlib.util.find_spec(pkg) is None:
            return {
                "available": False,
                "reason": f"{pkg} is not installed; install the optional extra: pip install 'burntbeats[neural]'",
                "versions": versions,
            }
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"available": True, "reason": None, "versions": versions}


def stem_counts(spec: ModelSpec) -> list[int]:
    """The stem counts a model can make: 2 and 4 always (missing sources are summed into other);
    6 only with guitar and piano sources (htdemucs_6s)."""
    return [2, 4, 6] if {"guitar", "piano"} <= set(spec.sources) else [2, 4]


def model_status(settings: Settings, spec: ModelSpec) -> dict:
    files = []
    for f in spec.files:
        path = file_path(settings, f)
        present = path.is_file()
        files.append({
            "name": f.name,
            "url": f.url,
            "sha256_prefix": f.sha256_prefix,
            "present": present,
            "size_bytes": path.stat().st_size if present else None,
        })
    return {
        "name": spec.name,
        "engine": spec.engine,
        "architecture": spec.architecture,
        "title": spec.title,
        "description": spec.description,
        "sources": list(spec.sources),
        "stems": stem_counts(spec),
        "bag_size": len(spec.files),
        "installed": all(f["present"] for f in files),
        "files": files,
        "license": spec.license,
    }


def list_models(settings: Settings) -> list[dict]:
    return [model_status(settings, spec) for spec in load_manifest(settings).values()]


def verify_model(settings: Settings, name: str, progress: ByteProgress | None = None) -> dict:
    """Checks every file of a model against the manifest. status: ok | missing | mismatch."""
    spec = get_spec(settings, name)
    results = []
    for f in spec.files:
        path = file_path(settings, f)
        if not path.is_file():
            results.append(
                {"name": f.name, "status": "missing", "expected": f.sha256 or f.sha256_prefix, "actual": None})
            continue
        digest = sha256_file(path, progress)
        ok = f.matches(digest)
        if ok:
            st = path.stat()
            _VERIFIED[str(path.resolve())] = (st.st_size, st.st_mtime_ns)
        results.append({"name": f.name, "status": "ok" if ok else "mismatch",
                        "expected": f.sha256 or f.sha256_prefix, "actual": digest})
    installed = all(r["status"] != "missing" for r in results)
    return {
        "name": name,
        "installed": installed,
        "ok": installed and all(r["status"] == "ok" for r in results),
        "files": results,
    }


# --------------------------------------------------------------------------- quality -> model


def resolve_model(settings: Settings, requested: str) -> tuple[str | None, str | None]:
    """Which installed model serves a request for `requested`: (name, note) or (None, why not).

    The requested model if installed, else the first installed of its `fallbacks` (e.g. `best`
    asks for htdemucs_ft and gets htdemucs when only that is installed), else None.
    """
    try:
        models = load_manifest(settings)
    except ModelError as exc:
        return None, str(exc)
    spec = models.get(requested)
    if spec is None:
        return None, f"unknown neural model {requested!r}"
    if is_installed(settings, spec):
        return requested, None
    for alt in spec.fallbacks:
        alt_spec = models.get(alt)
        if alt_spec is not None and is_installed(settings, alt_spec):
            return alt, f"neural model {requested!r} is not installed; used {alt!r}, the best installed model"
    return None, f"neural model {requested!r} is not installed (run `burntbeats models download {requested}`)"


# --------------------------------------------------------------------------- download / install


def _offline_hint(settings: Settings, spec: ModelSpec, f: ModelFile) -> str:
    return (
        f"If this machine is offline, download {f.url} elsewhere and copy it to "
        f"{file_path(settings, f)}, or run `burntbeats models install <file>`."
    )


def download_model(
    settings: Settings,
    name: str,
    progress: Callable[[str, int, int | None], None] | None = None,
    force: bool = False,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> list[Path]:
    """Fetch a model's files from their official URLs into MODELS_DIR (checksum-verified,
    atomically renamed into place). Files already present and valid are kept unless `force`.
    progress(file name, bytes done, total bytes or None)."""
    spec = get_spec(settings, name)
    target = models_dir(settings)
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in spec.files:
        dest = file_path(settings, f)
        if dest.is_file() and not force:
            try:
                verified_file(settings, f)
                paths.append(dest)
                continue
            except ModelError:
                pass  # corrupt or partial: fetch it again
        _download_file(settings, spec, f, dest, progress, timeout)
        paths.append(dest)
    _complete_models(settings)
    return paths


def _download_file(settings, spec, f: ModelFile, dest: Path, progress, timeout: float) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{f.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        try:
            request = urllib.request.Request(f.url, headers={"User-Agent": "burntbeats-models/1"})
            with urllib.request.urlopen(request, timeout=timeout) as resp, os.fdopen(fd, "wb") as out:
                fd = None
                length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
                total = int(length) if length and length.isdigit() else None
                done = 0
                while True:
                    buf = resp.read(_CHUNK)
                    if not buf:
                        break
                    out.write(buf)
                    digest.update(buf)
                    done += len(buf)
                    if progress is not None:
                        progress(f.name, done, total)
                if total is not None and done != total:
                    raise ModelError(f"download of {f.url} stopped after {done} of {total} bytes; try again. "
                                     + _offline_hint(settings, spec, f))
        except urllib.error.HTTPError as exc:
            raise ModelError(f"could not download {f.url}: the server answered {exc.code} {exc.reason}. "
                             + _offline_hint(settings, spec, f)) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(f"could not reach {urllib.parse.urlparse(f.url).netloc or f.url} to download "
                             f"{spec.name} ({reason}). " + _offline_hint(settings, spec, f)) from None
        except OSError as exc:
            raise ModelError(f"could not download {f.url} ({exc}). " + _offline_hint(settings, spec, f)) from None
        hexdigest = digest.hexdigest()
        if not f.matches(hexdigest):
            raise ModelError(f"the file downloaded from {f.url} does not match its published checksum "
                             f"(expected sha256 {f.sha256 or f.sha256_prefix + '...'}, got {hexdigest}); not installed")
        os.replace(tmp, dest)
        st = dest.stat()
        _VERIFIED[str(dest.resolve())] = (st.st_size, st.st_mtime_ns)
    finally:
        if fd is not None:
            os.close(fd)
        tmp.unlink(missing_ok=True)


def identify_file(
    settings: Settings, path: Path, progress: ByteProgress | None = None
) -> tuple[str, list[tuple[ModelSpec, ModelFile]]]:
    """sha256 of a local file and the manifest entries it is (by checksum)."""
    digest = sha256_file(path, progress)
    hits = [(spec, f) for spec in load_manifest(settings).values() for f in spec.files if f.matches(digest)]
    # Prefer entries with the same file name (two entries can share a short prefix only by accident).
    named = [(s, f) for s, f in hits if f.name == path.name]
    return digest, named or hits


def install_files(settings: Settings, paths: Iterable[Path], progress: ByteProgress | None = None) -> list[dict]:
    """Copy model files downloaded elsewhere into MODELS_DIR under their official names, after
    checking each one against the manifest checksums. Returns, per file, where it went and which
    models are now complete."""
    target = models_dir(settings)
    target.mkdir(parents=True, exist_ok=True)
    reports = []
    for src in paths:
        src = Path(src)
        if not src.is_file():
            raise ModelError(f"no such file: {src}")
        digest, hits = identify_file(settings, src, progress)
        if not hits:
            known = ", ".join(f.name for spec in load_manifest(settings).values() for f in spec.files)
            raise ModelError(f"{src} is not a known model file (sha256 {digest}); known files: {known}")
        names = sorted({f.name for _, f in hits})
        for name in names:
            f = next(f for _, f in hits if f.name == name)
            dest = file_path(settings, f)
            if not (dest.exists() and os.path.samefile(src, dest)):
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target)
                os.close(fd)
                try:
                    shutil.copyfile(src, tmp)
                    os.replace(tmp, dest)
                finally:
                    Path(tmp).unlink(missing_ok=True)
            st = dest.stat()
            _VERIFIED[str(dest.resolve())] = (st.st_size, st.st_mtime_ns)
        reports.append({"source": str(src), "installed_as": names,
                        "models": sorted({spec.name for spec, _ in hits})})
    complete = set(_complete_models(settings))
    for report in reports:
        report["complete"] = [m for m in report["models"] if m in complete]
    return reports
