"""The images of the docker backend, built here from local parts only (no registry is assumed,
so nothing is ever pulled; design.md s.11):

  * `invoice-chaos/python:3.11` -- a Debian root file system made by `debootstrap` (python3,
    python3-venv) turned into an image with `docker import`;
  * `invoice-chaos/app:<version>` -- the project installed offline (`pip --no-index`) from
    wheels that `pip wheel` builds on the host; the build itself has no network;
  * `invoice-chaos/toxiproxy:<toxiproxy version>` -- `FROM scratch` with the statically
    linked toxiproxy-server that `make setup` builds.

Each image carries `invoice-chaos.content=<hash of its inputs>`; an image whose label
matches is kept as it is, so a second build takes seconds. Wheels of the dependencies are
cached under `.cache/docker/` by the hash of the dependency list.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ... import __version__
from ...errors import MissingBinaryError, StackError

__all__ = ["BASE_IMAGE", "APP_IMAGE", "TOXIPROXY_IMAGE", "TOXIPROXY_VERSION", "Built", "ensure_images",
           "is_static_elf", "find_static_toxiproxy", "remove_images", "PROJECT_ROOT"]

TOXIPROXY_VERSION = "2.12.0"
BASE_IMAGE = "invoice-chaos/python:3.11"
APP_IMAGE = f"invoice-chaos/app:{__version__}"
TOXIPROXY_IMAGE = f"invoice-chaos/toxiproxy:{TOXIPROXY_VERSION}"
CONTENT_LABEL = "invoice-chaos.content"
PROJECT_ROOT = Path(__file__).resolve().parents[3]

DEBIAN_SUITE = "bookworm"                # Debian 12: python3 is 3.11, as the host's wheels need
DEBIAN_MIRROR = os.environ.get("INVOICE_CHAOS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
DEBIAN_PACKAGES = ("python3", "python3-venv", "ca-certificates")

DOCKER_DIR = PROJECT_ROOT / "docker"                 # app.Dockerfile, toxiproxy.Dockerfile

STATIC_HELP = """the docker backend's Toxiproxy image needs a statically linked toxiproxy-server.
{what}
Build one with:  make setup   (builds .tools/bin/toxiproxy-server-static with CGO_ENABLED=0)
or by hand:      CGO_ENABLED=0 GOBIN=$PWD/.tools/bin go install \\
                   -ldflags "-X github.com/Shopify/toxiproxy/v2.Version={v}" \\
                   github.com/Shopify/toxiproxy/v2/cmd/server@v{v}   (then rename 'server')
or set INVOICE_CHAOS_TOXIPROXY_STATIC=/path/to/static/toxiproxy-server."""


@dataclass(slots=True)
class Built:
    """One image: its tag, whether it was built now (False: the cached one was kept), seconds."""
    image: str
    built: bool
    seconds: float
    detail: str = ""


Say = Callable[[str], None]


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _cached(client: Any, tag: str, content: str) -> Any | None:
    from docker.errors import ImageNotFound
    try:
        image = client.images.get(tag)
    except ImageNotFound:
        return None
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    return image if labels.get(CONTENT_LABEL) == content else None


def cache_dir() -> Path:
    d = Path(os.environ.get("INVOICE_CHAOS_CACHE") or PROJECT_ROOT / ".cache" / "docker")
    d.mkdir(parents=True, exist_ok=True)
    return d


# --- static toxiproxy ------------------------------------------------------------------------
def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP): it runs in an
    image that has no libc."""
    import struct
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:          # 64-bit ELF only
            return False
        endian = "<" if head[5] == 1 else ">"
        phoff, = struct.unpack_from(endian + "Q", head, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", head, 0x36)
        fh.seek(phoff)
        table = fh.read(phentsize * phnum)
    for i in range(phnum):
        p_type, = struct.unpack_from(endian + "I", table, i * phentsize)
        if p_type == 3:                                      # PT_INTERP: dynamically linked
            return False
    return True


def find_static_toxiproxy() -> Path:
    explicit = os.environ.get("INVOICE_CHAOS_TOXIPROXY_STATIC")
    candidates = [Path(explicit)] if explicit else [
        PROJECT_ROOT / ".tools" / "bin" / "toxiproxy-server-static",
        PROJECT_ROOT / ".tools" / "bin" / "toxiproxy-server"]
    found = shutil.which("toxiproxy-server")
    if found and not explicit:
        candidates.append(Path(found))
    seen = []
    for c in candidates:
        if c.is_file():
            if is_static_elf(c.resolve()):
                return c.resolve()
            seen.append(f"{c} is dynamically linked")
    what = "; ".join(seen) if seen else "none was found"
    raise MissingBinaryError(STATIC_HELP.format(what=what, v=TOXIPROXY_VERSION))


# --- builds -----------------------------------------------------------------------------------
def _build(client: Any, context: Path, tag: str, content: str) -> None:
    """`docker build` without network; BuildError -> StackError with the build's last lines.
    The image the tag named before is removed when nothing else names it (no pile of
    dangling images after many code changes)."""
    from docker.errors import APIError, BuildError, ImageNotFound
    try:
        previous = client.images.get(tag).id
    except ImageNotFound:
        previous = None
    try:
        client.images.build(path=str(context), tag=tag, labels={CONTENT_LABEL: content}, rm=True,
                            forcerm=True, network_mode="none", pull=False)
    except BuildError as e:
        lines = [str(x.get("stream") or x.get("error") or "").rstrip() for x in e.build_log]
        tail = "\n".join("    " + ln for ln in [x for x in lines if x][-15:])
        raise StackError(f"building {tag} failed: {e.msg}\n{tail}") from None
    except APIError as e:
        raise StackError(f"building {tag} failed: {e.explanation or e}") from None
    if previous is not None:
        try:
            if not client.images.get(previous).tags:
                client.images.remove(previous)
        except APIError:
            pass                       # still used by a container, or gone already


def build_base(client: Any, say: Say, force: bool = False) -> Built:
    content = _digest(DEBIAN_SUITE, DEBIAN_MIRROR, *DEBIAN_PACKAGES, "minbase")
    start = time.monotonic()
    if not force and _cached(client, BASE_IMAGE, content) is not None:
        return Built(BASE_IMAGE, False, time.monotonic() - start)
    debootstrap = shutil.which("debootstrap") or next(
        (p for p in ("/usr/sbin/debootstrap", "/sbin/debootstrap") if os.access(p, os.X_OK)), None)
    if debootstrap is None:
        raise MissingBinaryError(
            f"{BASE_IMAGE} is missing and cannot be built: debootstrap is not installed.\n"
            "  Install it (Debian/Ubuntu: sudo apt-get install debootstrap) and run 'invoice-chaos images',\n"
            f"  or load an image with python3 (3.11) and python3-venv tagged {BASE_IMAGE}.")
    if os.geteuid() != 0:
        raise StackError(f"{BASE_IMAGE} is missing and cannot be built: debootstrap needs root.\n"
                         "  Run 'sudo invoice-chaos images' once (later runs use the cached images).")
    say(f"building {BASE_IMAGE}: debootstrap {DEBIAN_SUITE} (minbase + {', '.join(DEBIAN_PACKAGES)}) "
        f"from {DEBIAN_MIRROR}; a few minutes, once")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
    root = work / "root"
    try:
        log = work / "debootstrap.log"
        with open(log, "wb") as fh:
            rc = subprocess.run([debootstrap, "--variant=minbase", f"--include={','.join(DEBIAN_PACKAGES)}",
                                 DEBIAN_SUITE, str(root), DEBIAN_MIRROR], stdout=fh, stderr=subprocess.STDOUT,
                                timeout=1800).returncode
        if rc != 0:
            tail = "\n".join("    " + x for x in log.read_text(errors="replace").splitlines()[-15:])
            raise StackError(f"{BASE_IMAGE} could not be built: debootstrap exited with {rc}:\n{tail}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(root / junk, ignore_errors=True)
        tar = work / "rootfs.tar"
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(tar), "."], check=True,
                       timeout=900)
        client.api.import_image_from_file(str(tar), repository=BASE_IMAGE.split(":")[0],
                                          tag=BASE_IMAGE.split(":")[1],
                                          changes=[f"LABEL {CONTENT_LABEL}={content}",
                                                   "ENV LANG=C.UTF-8", 'CMD ["python3"]'])
    except subprocess.SubprocessError as e:
        raise StackError(f"{BASE_IMAGE} could not be built: {e}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if _cached(client, BASE_IMAGE, content) is None:
        raise StackError(f"{BASE_IMAGE}: docker import did not produce the image")
    return Built(BASE_IMAGE, True, time.monotonic() - start)


def _dependencies() -> list[str]:
    import tomllib
    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["project"]["dependencies"])


def _source_files() -> list[Path]:
    files = [PROJECT_ROOT / "pyproject.toml", PROJECT_ROOT / "README.md"]
    for pkg in ("harness", "fakes"):
        files += sorted(p for p in (PROJECT_ROOT / pkg).rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    return files


def _pip_wheel(args: list[str], what: str) -> None:
    cmd = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--quiet", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        tail = "\n".join("    " + x for x in (out.stdout + out.stderr).splitlines()[-15:])
        raise StackError(f"{APP_IMAGE} could not be built: pip wheel ({what}) failed:\n{tail}")


def _deps_key(deps: list[str]) -> str:
    return _digest(sys.version.split()[0], sys.platform, *deps)


def dependency_wheels() -> Path:
    """The wheels of the project's dependencies, made once per dependency list (idempotent)."""
    deps = _dependencies()
    deps_dir = cache_dir() / f"wheels-{_deps_key(deps)}"
    if not (deps_dir / ".complete").exists():
        shutil.rmtree(deps_dir, ignore_errors=True)
        _pip_wheel(["--wheel-dir", str(deps_dir), *deps], "dependencies")
        (deps_dir / ".complete").touch()
    (deps_dir / "requirements.txt").write_text("\n".join(deps) + "\n")
    return deps_dir


def build_app(client: Any, say: Say, force: bool = False) -> Built:
    if not (PROJECT_ROOT / "pyproject.toml").is_file():
        raise StackError(f"{APP_IMAGE} is missing and cannot be built: {PROJECT_ROOT} is not a source "
                         "checkout of invoice-chaos (no pyproject.toml)")
    base = client.images.get(BASE_IMAGE)
    deps_key = _deps_key(_dependencies())
    dockerfile = (DOCKER_DIR / "app.Dockerfile").read_text()
    parts: list[bytes | str] = [dockerfile, base.id, deps_key]
    for f in _source_files():
        parts += [str(f.relative_to(PROJECT_ROOT)), f.read_bytes()]
    content = _digest(*parts)
    start = time.monotonic()
    if not force and _cached(client, APP_IMAGE, content) is not None:
        return Built(APP_IMAGE, False, time.monotonic() - start)
    say(f"building {APP_IMAGE}: wheels with pip on the host, then an offline install")
    deps_dir = dependency_wheels()
    ctx = Path(tempfile.mkdtemp(prefix="app-", dir=cache_dir()))
    try:
        wheels = ctx / "deps"
        wheels.mkdir()
        for w in [*deps_dir.glob("*.whl"), deps_dir / "requirements.txt"]:
            _link_or_copy(w, wheels / w.name)
        _pip_wheel(["--no-deps", "--wheel-dir", str(ctx / "project"), str(PROJECT_ROOT)], "the project")
        (ctx / "Dockerfile").write_text(dockerfile)
        _build(client, ctx, APP_IMAGE, content)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return Built(APP_IMAGE, True, time.monotonic() - start)


def _link_or_copy(src: Path, dest: Path) -> None:
    """A hard link when both are on one file system (the wheels are 200 MB), else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def build_toxiproxy(client: Any, say: Say, force: bool = False) -> Built:
    binary = find_static_toxiproxy()
    dockerfile = (DOCKER_DIR / "toxiproxy.Dockerfile").read_text()
    content = _digest(dockerfile, binary.read_bytes())
    start = time.monotonic()
    if not force and _cached(client, TOXIPROXY_IMAGE, content) is not None:
        return Built(TOXIPROXY_IMAGE, False, time.monotonic() - start)
    say(f"building {TOXIPROXY_IMAGE} from {binary}")
    ctx = Path(tempfile.mkdtemp(prefix="toxiproxy-", dir=cache_dir()))
    try:
        shutil.copy2(binary, ctx / "toxiproxy-server")
        (ctx / "Dockerfile").write_text(dockerfile)
        _build(client, ctx, TOXIPROXY_IMAGE, content)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return Built(TOXIPROXY_IMAGE, True, time.monotonic() - start)


def ensure_images(client: Any, say: Say = print, force: bool = False) -> list[Built]:
    """Build whatever is missing or stale, in dependency order; the cached rest is kept. The
    dependency wheels are made on the host while debootstrap runs: both mostly wait on the
    network, so a first build takes the longer of the two, not their sum."""
    errors: list[BaseException] = []

    def wheels() -> None:
        try:
            dependency_wheels()
        except BaseException as e:  # noqa: BLE001 - raised below, in the caller's thread
            errors.append(e)

    helper = threading.Thread(target=wheels, name="dependency-wheels", daemon=True)
    helper.start()
    results = [build_toxiproxy(client, say, force), build_base(client, say, force)]
    helper.join()
    if errors:
        raise errors[0]
    results.append(build_app(client, say, force))
    return results


def remove_images(client: Any) -> list[str]:
    """Remove the three images (a clean first build, for timing it)."""
    from docker.errors import APIError, ImageNotFound
    removed = []
    for tag in (APP_IMAGE, TOXIPROXY_IMAGE, BASE_IMAGE):
        try:
            client.images.remove(tag, force=True)
            removed.append(tag)
        except ImageNotFound:
            pass
        except APIError as e:
            raise StackError(f"cannot remove {tag}: {e.explanation or e}") from None
    return removed
