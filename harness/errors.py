"""Errors of invoice-chaos, each with the exit code the CLI returns for it.

    * HarnessError                      (base; exit code on the class)
      x UsageError            exit 2    bad command-line use
      x ScenarioError         exit 2    an invalid scenario: `file:line: message`
      x InputError            exit 2    a run directory file that cannot be read
      x StackError            exit 3    the stack could not come up (binary, port, health)
        + MissingBinaryError  exit 3    a program to install, with how to install it
        + HealthTimeout       exit 3    a service that never became healthy (with its log tail)

A failed gate is not an error: the run finishes and exits 1. Ctrl-C exits 130 after
writing what was measured.
"""
from __future__ import annotations

__all__ = ["HarnessError", "UsageError", "ScenarioError", "InputError", "StackError",
           "MissingBinaryError", "HealthTimeout", "EXIT_PASS", "EXIT_GATE_FAILED",
           "EXIT_USAGE", "EXIT_STACK", "EXIT_INTERRUPTED"]

EXIT_PASS = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_STACK = 3
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    exit_code = 1


class UsageError(HarnessError):
    exit_code = EXIT_USAGE


class ScenarioError(HarnessError):
    """One or more problems in a scenario file; `problems` holds every `file:line: message`."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InputError(HarnessError):
    """A recorded file (history, ledger) that cannot be read: `file:line: what is wrong`."""

    exit_code = EXIT_USAGE


class StackError(HarnessError):
    exit_code = EXIT_STACK


class MissingBinaryError(StackError):
    pass


class HealthTimeout(StackError):
    pass
