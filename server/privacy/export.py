"""Exports as a zip of JSON files: one file per part and list, a manifest and a README that
explains the format. Built in memory under a size bound (JSON is small; media is not kept)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import User
from server.infra.errors import AppError, ErrorCode
from server.privacy.parts import AuditPart, DataPart, Exported, HoldsAuditTargets

FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # uncompressed JSON

PERSON_README = """# Your data from Officehours

This archive holds everything this Officehours server keeps about you, as JSON files.

- `manifest.json`: when the archive was made, for whom, and the list of files.
- `<part>/<name>.json`: one JSON array of objects per kind of record. Times are ISO 8601 in
  UTC; ids are the server's numeric ids (the same id means the same thing across files).

Parts:

- `account/`: your profile (`profile.json`), your roles in groups and units
  (`memberships.json`), group invitations waiting for your answer (`pending_memberships.json`),
  your sign-in sessions (`sign_in_sessions.json`: when and how, never the secret token), your
  sign-ins of the last 90 days (`sign_ins.json`: time and method, never an address), password
  resets an admin made (`password_resets.json`: when, by whom, whether used; never the
  credential) and invite codes you created (`invite_codes_created.json`).
- `avatar/`: your profile picture, if you set one (`picture.json`): its format, size in
  pixels and bytes, when you set it, and the picture itself as base64 (`data_base64`), exactly
  as the server keeps and shows it (location, camera and other metadata were removed when you
  uploaded it).
- `office/`: rooms you own and guest links you created (never the link's secret).
- `chat/`: conversations you are in, with their members' ids and your read marker
  (`conversations.json`), and every message you wrote, with its text (`messages_written.json`).
  Messages other people wrote are theirs, and are not included.
- `notifications/`: your notification settings (`settings.json`: which kinds of event notify
  you while the office is in the background, and the sound), if you ever changed them.
- `analytics/`: engagement events recorded under your pseudonym (`events.json`): counts,
  durations and times only; nothing you said or wrote is in them.
- `audit/`: entries of the organization's audit log where you acted or were acted upon:
  about your account, your enrolments, your pairs and their sessions and goals.
- `mentoring/`: your enrolments in mentoring programs with the profile you gave
  (`enrolments.json`); your pairs, the other person by the name the program shows
  (`other_person`), with your agreement (`pairs.json`); the goals and milestones of your pairs
  (`goals.json`, `milestones.json`); your pairs' sessions (`sessions.json`); each session's
  shared note (`shared_notes.json`) and your own private notes (`private_notes.json`: the other
  person's private notes are theirs, and are not included); the feedback on your sessions as
  you can read it, `from` being `you` or the other person's side (`feedback.json`); and
  whether you have a calendar feed (`calendar_feed.json`: since when, never its secret URL).

Other features add their own folders; each is described by its files' names.
"""

ORG_README = """# Organization export from Officehours

An organization admin's export: the organization's structure and metadata, as JSON files.
It contains no message text, notes or other content people wrote (admins do not read
content), and no raw engagement events (the dashboards export their totals, which hide
groups too small to be anonymous).

- `manifest.json`: when the archive was made, for which organization, and the list of files.
- `account/`: units, groups, people (name, email, status, activity dates), memberships.
- `office/`: floors, rooms, room owners, guest links (never their secrets).
- `chat/`: conversations (kind, room, number of the last message), without messages.
- `mentoring/`: programs, enrolments (person, role, state, dates: no profiles), pairs (who,
  how matched, when, how many goals are open or done), sessions (times, time met). No
  agreement, goal, note or feedback text, no ratings, not even who gave feedback.
- `audit/`: the whole audit log with its chain (`prev_hash`, `hash`): each entry's `hash` is
  an HMAC-SHA256, under the server's audit key, of the previous `hash` and the entry's
  canonical JSON. Whoever holds the key (the operator) can re-check it; the server does at
  `GET /api/org/audit/verify`.

Times are ISO 8601 in UTC; ids are the server's numeric ids.
"""


async def collect_person(
    session: AsyncSession, user: User, parts: Sequence[DataPart]
) -> dict[str, Exported]:
    # Audit entries about the person include those targeting their records in other parts.
    targets = [
        target
        for part in parts
        if isinstance(part, HoldsAuditTargets)
        for target in await part.audit_targets(session, user)
    ]
    return {
        part.name: await (
            part.export(session, user, targets)
            if isinstance(part, AuditPart)
            else part.export(session, user)
        )
        for part in parts
    }


async def collect_org(
    session: AsyncSession, org_id: int, parts: Sequence[DataPart]
) -> dict[str, Exported]:
    return {part.name: await part.export_org(session, org_id) for part in parts}


def _zip(readme: str, manifest: dict[str, Any], data: dict[str, Exported], max_bytes: int) -> bytes:
    files: dict[str, bytes] = {}
    total = 0
    for part, lists in data.items():
        for name, rows in lists.items():
            encoded = json.dumps(rows, indent=1, ensure_ascii=False).encode()
            total += len(encoded)
            if total > max_bytes:
                raise AppError(
                    ErrorCode.TOO_LARGE,
                    "this export is larger than the server allows; ask the operator",
                )
            files[f"{part}/{name}.json"] = encoded
    manifest = {**manifest, "format_version": FORMAT_VERSION, "files": sorted(files)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.md", readme)
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        for name, encoded in files.items():
            archive.writestr(name, encoded)
    return buffer.getvalue()


async def build_zip(
    *,
    kind: str,
    subject_id: int,
    generated_at: datetime,
    data: dict[str, Exported],
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> bytes:
    """The archive; compression runs in a thread so the event loop keeps serving."""
    readme = PERSON_README if kind == "person" else ORG_README
    manifest = {"kind": kind, "id": subject_id, "generated_at": generated_at.isoformat()}
    return await asyncio.to_thread(_zip, readme, manifest, data, max_bytes)
