"""`invoice-chaos images`: build (or remove) the docker backend's images and say how long each took."""
from __future__ import annotations

from typing import Callable

from .engine import connect
from .images import ensure_images, remove_images

__all__ = ["images_command"]


def images_command(rebuild: bool = False, remove: bool = False, say: Callable[[str], None] = print) -> int:
    client = connect()
    if remove:
        gone = remove_images(client)
        say("removed: " + (", ".join(gone) if gone else "nothing (no invoice-chaos image was present)"))
        return 0
    for b in ensure_images(client, say=say, force=rebuild):
        say(f"{b.image:<34} {'built' if b.built else 'cached'} in {b.seconds:.1f}s")
    return 0
