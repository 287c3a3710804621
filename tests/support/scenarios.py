"""A small scenario around one `platform:` block and one `faults:` list, for the tests of a
profile's scenario keys and of the stack configuration made from it: the rest of the file
stays out of the way (and at the same lines, so a `file:line` in an error names the block's
own line)."""
from __future__ import annotations

_PROFILE_SCENARIO = """\
name: {name}
duration: 30s
load:
  points: [[0s, 1.0], [30s, 1.0]]
  peak_rps: 5
platform:
{platform}
faults:
{faults}
"""


def profile_scenario(platform: str, faults: str = "  []", name: str = "profile-keys") -> str:
    """The scenario's text; `platform` and `faults` are indented YAML lines."""
    return _PROFILE_SCENARIO.format(name=name, platform=platform, faults=faults)
