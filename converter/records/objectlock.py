"""S3 Object Lock: sealed objects no one can delete or overwrite before a date.

With ``--retain-days N`` (env ``RUNBOOK_RETAIN_DAYS``) every object of a record
sealed into a shared archive — its files, its manifest and its chain object — is
written with COMPLIANCE retention until N days after the seal. The store (not this
program) then refuses, to everyone including the bucket owner, to delete that
object version or to shorten its retention until the date; an overwrite only adds
a newer version and a plain DELETE a delete marker, which ``records verify`` names
(:mod:`.versions`). The bucket
must have been created with Object Lock (``ObjectLockEnabledForBucket``): that is
checked before a run starts.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import RecordError
from .store import store_errors

RETAIN_DAYS_ENV = "RUNBOOK_RETAIN_DAYS"
MODE = "COMPLIANCE"


def retain_days(environ: dict[str, str] | None = None) -> int | None:
    """The days of retention asked for (``RUNBOOK_RETAIN_DAYS``), ``None`` when unset."""
    text = (os.environ if environ is None else environ).get(RETAIN_DAYS_ENV, "").strip()
    if not text:
        return None
    try:
        days = int(text)
    except ValueError:
        days = 0
    if days < 1:
        raise RecordError(f"{RETAIN_DAYS_ENV}={text!r}: give a whole number of days, at least 1")
    return days


def retention(days: int | None, now: datetime | None = None) -> dict[str, str] | None:
    """The retention a seal asks for, as the manifest states it (``None`` without days)."""
    if days is None:
        return None
    moment = (now or datetime.now(timezone.utc)) + timedelta(days=days)
    return {"mode": MODE, "until": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}


def put_arguments(stated: dict[str, str] | None) -> dict[str, Any]:
    """The PutObject arguments that lock an object as ``stated`` (none without retention)."""
    if stated is None:
        return {}
    until = datetime.strptime(stated["until"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return {"ObjectLockMode": stated["mode"], "ObjectLockRetainUntilDate": until}


def require_lock(fs: Any, bucket: str, url: str) -> None:
    """Refuse retention on a bucket created without Object Lock (before anything runs)."""
    try:
        config = fs.call_s3("get_object_lock_configuration", Bucket=bucket)
    except store_errors():
        config = {}  # ObjectLockConfigurationNotFoundError: a bucket without Object Lock
    enabled = (config.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled")
    if enabled != "Enabled":
        raise RecordError(
            f"--retain-days needs a bucket with S3 Object Lock; {bucket!r} has none "
            "(create it with Object Lock enabled)",
            path=url,
        )


def found(head: dict[str, Any]) -> str:
    """What a HeadObject answer says about an object's lock, in words for ``records verify``."""
    mode = head.get("ObjectLockMode")
    until = head.get("ObjectLockRetainUntilDate")
    hold = head.get("ObjectLockLegalHoldStatus") == "ON"
    if not mode:
        return "retention: none" + (" (legal hold)" if hold else "")
    when = until.strftime("%Y-%m-%d %H:%M:%SZ") if isinstance(until, datetime) else str(until)
    return f"retention: {mode} until {when}" + (" (legal hold)" if hold else "")


def shorter_than_stated(head: dict[str, Any], stated: Any) -> bool:
    """Whether the store keeps an object for less than its manifest says it asked for."""
    if not isinstance(stated, dict) or not stated.get("until"):
        return False
    until = head.get("ObjectLockRetainUntilDate")
    if not isinstance(until, datetime) or head.get("ObjectLockMode") != stated.get("mode"):
        return True
    asked = datetime.strptime(str(stated["until"]), "%Y-%m-%dT%H:%M:%SZ")
    return until.astimezone(timezone.utc).replace(tzinfo=None) < asked - timedelta(seconds=1)
