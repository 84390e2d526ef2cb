"""The audit log is a hash chain: any change, removal or reordering is detected, and
concurrent appends queue instead of forking the chain."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, text, update

from server.audit.actions import AuditAction, TargetKind
from server.audit.log import append, entries, verify
from server.audit.tables import AuditEntry
from server.http.keys import DB
from server.infra.clock import FakeClock
from tests.conftest import Office


async def write(client: TestClient[Any, Any], office: Office, clock: FakeClock, n: int) -> None:
    async with client.app[DB]() as session:
        for i in range(n):
            await append(
                session,
                org_id=office.org.id,
                actor_id=office.admin.id,
                action=AuditAction.ROLE_GRANTED,
                at=clock.now(),
                target_kind=TargetKind.USER,
                target_id=office.alice.id,
                detail={"role": "member", "group_id": office.group_ids[0], "n": i},
            )
            clock.advance(1.5)
        await session.commit()


async def test_an_untouched_chain_verifies_and_reads_newest_first(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    await write(client, office, clock, 5)
    async with client.app[DB]() as session:
        assert await verify(session, office.org.id) is None
        newest = await entries(session, office.org.id, limit=2)
        assert [entry.seq for entry in newest] == [5, 4]
        older = await entries(session, office.org.id, before_seq=4)
        assert [entry.seq for entry in older] == [3, 2, 1]
        assert await entries(session, office.outsider.org_id) == []


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        (update(AuditEntry).where(AuditEntry.seq == 3).values(detail={"role": "org_admin"}), 3),
        (update(AuditEntry).where(AuditEntry.seq == 3).values(actor_id=None), 3),
        (delete(AuditEntry).where(AuditEntry.seq == 3), 3),
        (delete(AuditEntry).where(AuditEntry.seq == 5), 5),
    ],
    ids=["detail-changed", "actor-changed", "middle-deleted", "last-deleted"],
)
async def test_tampering_is_detected_at_the_changed_entry(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, tamper: Any, broken_at: int
) -> None:
    await write(client, office, clock, 5)
    async with client.app[DB]() as session:
        if session.get_bind().dialect.name == "postgresql":
            # The table's owner can switch the append-only trigger off: the chain still tells.
            await session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        await session.execute(tamper.where(AuditEntry.org_id == office.org.id))
        await session.commit()
        broken = await verify(session, office.org.id)
    assert broken == broken_at


async def test_concurrent_appends_form_one_unbroken_chain(
    client: TestClient[Any, Any], office: Office, clock: FakeClock
) -> None:
    await asyncio.gather(*(write(client, office, clock, 3) for _ in range(8)))
    async with client.app[DB]() as session:
        assert await verify(session, office.org.id) is None
        assert len(await entries(session, office.org.id, limit=100)) == 24


@pytest.mark.parametrize(
    "detail",
    [{"reason": "was rude to Bob"}, {"email": "bob@acme.example"}, {"Note": 1}, {"x": object()}],
)
async def test_details_cannot_carry_text(
    client: TestClient[Any, Any], office: Office, clock: FakeClock, detail: Any
) -> None:
    async with client.app[DB]() as session:
        with pytest.raises(ValueError, match="audit detail"):
            await append(
                session,
                org_id=office.org.id,
                actor_id=office.admin.id,
                action=AuditAction.ACCOUNT_SUSPENDED,
                at=clock.now(),
                detail=detail,
            )
        with pytest.raises(TypeError):
            await append(
                session,
                org_id=office.org.id,
                actor_id=None,
                action="account.suspended",  # type: ignore[arg-type]
                at=clock.now(),
            )
