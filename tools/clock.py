"""``get_time``: the current date and time in a given time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from tools.base import ToolEnv, ToolResult, tool


class GetTimeArgs(BaseModel):
    timezone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-/]+$",
        description="IANA time zone name, e.g. 'UTC', 'Europe/Paris', 'America/New_York', 'Asia/Tokyo'.",
    )


def _utc_offset(moment: datetime) -> str:
    minutes = int((moment.utcoffset() or timedelta(0)).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@tool(args=GetTimeArgs, risk="read", idempotent=True, timeout_s=5)
async def get_time(args: GetTimeArgs, env: ToolEnv) -> ToolResult:
    """Get the current date and time in a time zone. Use it whenever an answer depends on
    today's date, the day of the week or the local time somewhere; do not guess the date.
    Pass an IANA zone name such as "Europe/Paris" or "America/New_York" (default "UTC").
    Returns {"timezone", "iso" (ISO-8601 local time with offset), "weekday", "utc_offset"}."""
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ToolResult.failure(
            f"Unknown time zone {args.timezone!r}. Use an IANA name such as 'UTC', 'Europe/Paris', "
            "'America/New_York' or 'Asia/Tokyo'."
        )
    # Tests and replays inject a fixed clock through env.extras["now"].
    clock: Callable[[], datetime] = env.extras.get("now") or (lambda: datetime.now(UTC))
    now = clock()
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # an injected naive clock is taken to be UTC, never server-local
    local = now.astimezone(zone)
    return ToolResult.success(
        {
            "timezone": args.timezone,
            "iso": local.isoformat(timespec="seconds"),
            "weekday": local.strftime("%A"),
            "utc_offset": _utc_offset(local),
        }
    )
