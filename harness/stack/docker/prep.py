"""What a `--backend docker` run checks and builds before its run directory exists (exit 3
otherwise): an engine that answers, the three images (built on demand, cached by content)
and the user's `--sut-image`, which is never pulled."""
from __future__ import annotations

from typing import Any, Callable

from ...errors import StackError
from .engine import connect
from .images import ensure_images

__all__ = ["prepare_docker"]


def prepare_docker(sut_image: str | None, say: Callable[[str], None] = print) -> Any:
    """The connected client, once every image the run needs is present."""
    from docker.errors import ImageNotFound
    client = connect()
    for b in ensure_images(client, say=say):
        if b.built:
            say(f"built {b.image} in {b.seconds:.0f}s")
    if sut_image:
        try:
            client.images.get(sut_image)
        except ImageNotFound:
            raise StackError(f"--sut-image {sut_image}: no such image in the local engine (nothing is "
                             f"pulled from a registry).\n  Build it first, e.g. docker build -t {sut_image} "
                             "path/to/your/merchant") from None
    return client
