"""`--client FILE.py:Class`: find, read and check an adapter before anything starts.

The file's text travels with the run's settings (`LoadConfig.client`): every load process,
local or on a load machine (design.md s.10), builds its adapter from that text, so a
worker needs nothing but the project installed, and every process runs the same code as
the orchestrator checked. One file: it may import the project and installed packages,
not modules beside it.
"""
from __future__ import annotations

import sys
import traceback
import types
from pathlib import Path
from typing import Any

from .adapter import REQUIRED, Adapter, defines
from .spec import ClientError, ClientSpec, parse_spec

__all__ = ["ClientError", "ClientSpec", "parse_spec", "read_client", "load_class"]


def read_client(text: str, base_dir: Path | None = None) -> ClientSpec:
    """Read and check `FILE.py:Class` (a relative FILE from `base_dir`, else the current
    directory): the file imports, the class is an Adapter and defines issue and query."""
    path_text, name = parse_spec(text)
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if not path.is_file():
        raise ClientError(f"{path}: no such file (from {text!r})")
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ClientError(f"{path}: cannot be read: {e}") from None
    spec = ClientSpec(str(path.resolve()), name, source)
    load_class(spec)
    return spec


_loaded: dict[tuple[str, str, str], type[Adapter]] = {}


def load_class(spec: ClientSpec) -> type[Adapter]:
    """The adapter class from the spec's text (once per process), checked."""
    key = (spec.path, spec.digest, spec.cls)
    if key in _loaded:
        return _loaded[key]
    mod_name = _module_name(spec)
    module = types.ModuleType(mod_name)
    module.__file__ = spec.path
    sys.modules[mod_name] = module
    try:
        code = compile(spec.source, spec.path, "exec")
        exec(code, module.__dict__)
    except SyntaxError as e:
        sys.modules.pop(mod_name, None)
        raise ClientError(f"{spec.path}:{e.lineno}: cannot be imported: SyntaxError: {e.msg}") from None
    except BaseException as e:  # noqa: BLE001 - anything the module does on import
        sys.modules.pop(mod_name, None)
        if isinstance(e, KeyboardInterrupt):
            raise
        line = _line_in(e, spec.path)
        raise ClientError(f"{spec.path}{f':{line}' if line else ''}: cannot be imported: "
                          f"{type(e).__name__}: {e}") from None
    cls = getattr(module, spec.cls, None)
    if cls is None:
        classes = sorted(n for n, v in vars(module).items()
                         if isinstance(v, type) and issubclass(v, Adapter) and v is not Adapter)
        raise ClientError(f"{spec.path}: no class {spec.cls!r}"
                          + (f"; its adapters: {', '.join(classes)}" if classes else
                             "; it defines no Adapter subclass"))
    _loaded[key] = _checked(spec, cls)
    return _loaded[key]


def _checked(spec: ClientSpec, cls: Any) -> type[Adapter]:
    if not isinstance(cls, type) or not issubclass(cls, Adapter):
        raise ClientError(f"{spec.label}: not an Adapter (write `class {spec.cls}(Adapter)` with "
                          "`from harness.client import Adapter, Answer`)")
    missing = [m for m in REQUIRED if not defines(cls, m)]
    if missing:
        raise ClientError(f"{spec.label}: the adapter lacks {' and '.join(missing)} (an adapter "
                          "defines issue(order) and query(order_id), each returning an Answer)")
    return cls


def _module_name(spec: ClientSpec) -> str:
    stem = "".join(c if c.isalnum() else "_" for c in Path(spec.path).stem)
    return f"invoice_chaos_client_{stem}_{spec.digest}"


def _line_in(exc: BaseException, path: str) -> int | None:
    """The last line of `path` in the exception's traceback (where the import failed)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path:
            line = frame.lineno
    return line
