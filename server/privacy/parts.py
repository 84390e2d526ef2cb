"""The registry of per-feature data parts.

A ``DataPart`` says, for one feature: what it holds about a person (``export``), what an
organization's export contains (``export_org`` — never content: admins do not read what people
wrote), and how a person is erased from it (``erase``). Parts run inside the caller's
transaction, in registry order, all before the person's profile row is scrubbed, so each part
still sees the person's ids (``analytics_id`` included). A feature that lands later (mentoring,
analytics rollups) adds its part to the tuple ``app.py`` hands to the privacy service.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics.rollup import forget_person
from server.analytics.tables import AnalyticsEvent
from server.audit.actions import TargetKind
from server.audit.tables import AuditEntry
from server.content.messages import Message
from server.db.models import (
    AuthSession,
    Conversation,
    ConversationMember,
    Floor,
    Group,
    Membership,
    OrgInviteCode,
    PasswordReset,
    Room,
    RoomInvite,
    RoomOwner,
    SignInRecord,
    Unit,
    User,
)
from server.people import notification_settings
from server.privacy.tables import ErasedContent, PendingMembership

Rows = list[dict[str, Any]]
Exported = dict[str, Rows]


@dataclass(frozen=True)
class ErasurePolicy:
    content: ErasedContent
    now: datetime


# Records of a feature that are about one person, by the audit log's target kinds: entries
# targeting them are about that person too (an enrolment of theirs, a pair they are in).
AuditTargets = Sequence[tuple[TargetKind, Sequence[int]]]


@runtime_checkable
class HoldsAuditTargets(Protocol):
    """A part whose records about a person audit entries can target."""

    async def audit_targets(self, session: AsyncSession, user: User) -> AuditTargets:
        """The ids, by target kind, of this part's records about ``user``."""
        ...


class DataPart(Protocol):
    name: str

    async def export(self, session: AsyncSession, user: User) -> Exported:
        """Everything this feature holds about ``user``, as named lists of JSON objects."""
        ...

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        """What an organization admin may take away: structure and metadata, no content."""
        ...

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        """Remove or unlink ``user`` here; returns how many rows changed. Idempotent."""
        ...


def plain(value: Any) -> Any:
    """A column value as JSON."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def row(obj: Any, *fields: str) -> dict[str, Any]:
    return {name: plain(getattr(obj, name)) for name in fields}


def _changed(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


MEMBERSHIP_FIELDS = ("id", "role", "unit_id", "group_id")
SESSION_FIELDS = ("id", "created_at", "expires_at", "revoked_at", "method")
INVITE_CODE_FIELDS = ("id", "unit_id", "group_id", "created_at", "expires_at", "max_uses", "uses")
GUEST_LINK_FIELDS = (
    "id",
    "room_id",
    "created_at",
    "expires_at",
    "max_uses",
    "uses",
    "requires_admission",
    "revoked_at",
)


class AccountPart:
    """Memberships, sign-in sessions (never their tokens), invite codes the person made and
    group memberships waiting for their consent. The profile itself is scrubbed by erasure."""

    name = "account"

    async def export(self, session: AsyncSession, user: User) -> Exported:
        memberships = await session.scalars(
            select(Membership).where(Membership.user_id == user.id).order_by(Membership.id)
        )
        pending = await session.scalars(
            select(PendingMembership)
            .where(PendingMembership.user_id == user.id)
            .order_by(PendingMembership.id)
        )
        sessions = await session.scalars(
            select(AuthSession).where(AuthSession.user_id == user.id).order_by(AuthSession.id)
        )
        codes = await session.scalars(
            select(OrgInviteCode)
            .where(OrgInviteCode.created_by == user.id)
            .order_by(OrgInviteCode.id)
        )
        sign_ins = await session.scalars(
            select(SignInRecord).where(SignInRecord.user_id == user.id).order_by(SignInRecord.id)
        )
        resets = await session.scalars(
            select(PasswordReset).where(PasswordReset.user_id == user.id).order_by(PasswordReset.id)
        )
        return {
            "profile": [
                row(
                    user,
                    "id",
                    "org_id",
                    "email",
                    "display_name",
                    "status",
                    "created_at",
                    "last_active_at",
                    "is_guest",
                )
            ],
            "memberships": [row(m, *MEMBERSHIP_FIELDS) for m in memberships],
            "pending_memberships": [
                row(m, "id", "role", "unit_id", "group_id", "invited_by", "created_at")
                for m in pending
            ],
            "sign_in_sessions": [row(s, *SESSION_FIELDS) for s in sessions],
            "sign_ins": [row(r, "at", "method") for r in sign_ins],
            "password_resets": [
                row(r, "created_at", "expires_at", "used_at", "reset_by") for r in resets
            ],
            "invite_codes_created": [row(c, *INVITE_CODE_FIELDS, "revoked_at") for c in codes],
        }

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        units = await session.scalars(select(Unit).where(Unit.org_id == org_id).order_by(Unit.id))
        groups = await session.scalars(
            select(Group).where(Group.org_id == org_id).order_by(Group.id)
        )
        people = await session.scalars(select(User).where(User.org_id == org_id).order_by(User.id))
        memberships = await session.scalars(
            select(Membership).where(Membership.org_id == org_id).order_by(Membership.id)
        )
        return {
            "units": [row(u, "id", "name") for u in units],
            "groups": [row(g, "id", "unit_id", "name") for g in groups],
            "people": [
                row(
                    p,
                    "id",
                    "email",
                    "display_name",
                    "status",
                    "created_at",
                    "last_active_at",
                    "is_guest",
                )
                for p in people
            ],
            "memberships": [row(m, "user_id", *MEMBERSHIP_FIELDS) for m in memberships],
        }

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        changed = 0
        for statement in (
            delete(AuthSession).where(AuthSession.user_id == user.id),
            delete(SignInRecord).where(SignInRecord.user_id == user.id),
            delete(PasswordReset).where(PasswordReset.user_id == user.id),
            delete(Membership).where(Membership.user_id == user.id),
            delete(PendingMembership).where(PendingMembership.user_id == user.id),
            update(OrgInviteCode)
            .where(OrgInviteCode.created_by == user.id, OrgInviteCode.revoked_at.is_(None))
            .values(revoked_at=policy.now),
            update(OrgInviteCode)
            .where(OrgInviteCode.created_by == user.id)
            .values(created_by=None),
            update(PendingMembership)
            .where(PendingMembership.invited_by == user.id)
            .values(invited_by=None),
        ):
            changed += _changed(await session.execute(statement))
        return changed


class OfficePart:
    """Rooms the person owns and guest links they made (metadata, never tokens)."""

    name = "office"

    async def export(self, session: AsyncSession, user: User) -> Exported:
        owned = await session.scalars(
            select(RoomOwner.room_id).where(RoomOwner.user_id == user.id).order_by(RoomOwner.id)
        )
        links = await session.scalars(
            select(RoomInvite).where(RoomInvite.created_by == user.id).order_by(RoomInvite.id)
        )
        return {
            "rooms_owned": [{"room_id": room_id} for room_id in owned],
            "guest_links_created": [row(link, *GUEST_LINK_FIELDS) for link in links],
        }

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        floors = await session.scalars(
            select(Floor).where(Floor.org_id == org_id).order_by(Floor.id)
        )
        rooms = await session.scalars(select(Room).where(Room.org_id == org_id).order_by(Room.id))
        owners = await session.execute(
            select(RoomOwner.room_id, RoomOwner.user_id)
            .join(Room, Room.id == RoomOwner.room_id)
            .where(Room.org_id == org_id)
            .order_by(RoomOwner.id)
        )
        links = await session.scalars(
            select(RoomInvite).where(RoomInvite.org_id == org_id).order_by(RoomInvite.id)
        )
        return {
            "floors": [row(f, "id", "name", "position", "width", "height") for f in floors],
            "rooms": [
                row(r, "id", "floor_id", "name", "kind", "capacity", "door", "archived")
                for r in rooms
            ],
            "room_owners": [{"room_id": r, "user_id": u} for r, u in owners],
            "guest_links": [row(link, "created_by", *GUEST_LINK_FIELDS) for link in links],
        }

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        changed = _changed(
            await session.execute(delete(RoomOwner).where(RoomOwner.user_id == user.id))
        )
        changed += _changed(
            await session.execute(
                update(RoomInvite)
                .where(RoomInvite.created_by == user.id, RoomInvite.revoked_at.is_(None))
                .values(revoked_at=policy.now)
            )
        )
        changed += _changed(
            await session.execute(
                update(RoomInvite).where(RoomInvite.created_by == user.id).values(created_by=None)
            )
        )
        return changed


class ChatPart:
    """Conversations the person is in and the messages they wrote. Erasure keeps their words
    anonymously or leaves tombstones, per the organization's policy; either way the message
    no longer points at them. Organization exports list conversations, never messages."""

    name = "chat"

    async def export(self, session: AsyncSession, user: User) -> Exported:
        memberships = (
            await session.execute(
                select(ConversationMember, Conversation)
                .join(Conversation, Conversation.id == ConversationMember.conversation_id)
                .where(ConversationMember.user_id == user.id)
                .order_by(Conversation.id)
            )
        ).all()
        ids = [c.id for _, c in memberships]
        members: dict[int, list[int]] = {}
        if ids:
            for conversation_id, member_id in await session.execute(
                select(ConversationMember.conversation_id, ConversationMember.user_id).where(
                    ConversationMember.conversation_id.in_(ids),
                    ConversationMember.is_member.is_(True),
                )
            ):
                members.setdefault(conversation_id, []).append(member_id)
        messages = await session.scalars(
            select(Message).where(Message.sender_id == user.id).order_by(Message.id)
        )
        return {
            "conversations": [
                {
                    **row(c, "id", "kind", "room_id", "created_at"),
                    "member": m.is_member,
                    "last_read_seq": m.last_read_seq,
                    "members": sorted(members.get(c.id, [])),
                }
                for m, c in memberships
            ],
            "messages_written": [
                row(
                    m,
                    "id",
                    "conversation_id",
                    "seq",
                    "body",
                    "created_at",
                    "edited_at",
                    "deleted_at",
                )
                for m in messages
            ],
        }

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        conversations = await session.scalars(
            select(Conversation).where(Conversation.org_id == org_id).order_by(Conversation.id)
        )
        return {
            "conversations": [
                row(c, "id", "kind", "room_id", "last_seq", "created_at") for c in conversations
            ]
        }

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        values: dict[str, Any] = {"sender_id": None}
        if policy.content is ErasedContent.DELETE:
            values.update(body=None, deleted_at=policy.now)
        changed = _changed(
            await session.execute(
                update(Message).where(Message.sender_id == user.id).values(**values)
            )
        )
        # Direct and group conversations are found by their members' ids ("3,7,12"): the
        # person's id goes from the key (nobody can open a conversation with them any more).
        keyed = await session.execute(
            select(Conversation.id, Conversation.member_key)
            .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
            .where(ConversationMember.user_id == user.id, Conversation.member_key.is_not(None))
        )
        for conversation_id, key in keyed.all():
            if key is not None and str(user.id) in key.split(","):
                changed += _changed(
                    await session.execute(
                        update(Conversation)
                        .where(Conversation.id == conversation_id)
                        .values(member_key=None)
                    )
                )
        changed += _changed(
            await session.execute(
                delete(ConversationMember).where(ConversationMember.user_id == user.id)
            )
        )
        return changed


class AnalyticsPart:
    """Engagement events under the person's pseudonym. Erasure forgets the pseudonym: the
    events are folded into the rollups and deleted, the person's day and week rows move to a
    fresh pseudonym nobody holds (``forget_person``), and the profile scrub sets
    ``users.analytics_id`` to NULL. The person stays in the aggregates as an anonymous
    participant that nothing links back to them. ``secret`` keys the fold's pair hashes."""

    name = "analytics"

    def __init__(self, secret: str) -> None:
        self._secret = secret

    FIELDS = (
        "metric",
        "unit_id",
        "group_id",
        "peer_group_id",
        "room_kind",
        "channel",
        "count",
        "seconds",
        "at",
    )

    async def export(self, session: AsyncSession, user: User) -> Exported:
        if user.analytics_id is None:
            return {"events": []}
        events = await session.scalars(
            select(AnalyticsEvent)
            .where(AnalyticsEvent.person == user.analytics_id)
            .order_by(AnalyticsEvent.id)
        )
        return {"events": [row(e, *self.FIELDS) for e in events]}

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        # No raw events: with group ids and times they would give small groups' numbers
        # (and so single people's) that dashboards suppress. Admins export aggregates there.
        return {}

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        if user.analytics_id is None:
            return 0
        return await forget_person(session, user.analytics_id, secret=self._secret)


class AuditPart:
    """Audit entries where the person acted or was acted upon: their account, or a record of
    another part about them (``targets``: their enrolments, their pairs and what belongs to
    the pairs). The log is append-only and holds ids only, so erasure leaves it alone: the
    id no longer leads to a name."""

    name = "audit"
    FIELDS = ("seq", "at", "actor_id", "action", "target_kind", "target_id", "detail")

    async def export(
        self, session: AsyncSession, user: User, targets: AuditTargets = ()
    ) -> Exported:
        about = [(TargetKind.USER, [user.id]), *targets]
        entries = await session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.org_id == user.org_id,
                or_(
                    AuditEntry.actor_id == user.id,
                    *(
                        (AuditEntry.target_kind == kind) & AuditEntry.target_id.in_(ids)
                        for kind, ids in about
                        if ids
                    ),
                ),
            )
            .order_by(AuditEntry.seq)
        )
        return {"entries": [row(e, *self.FIELDS) for e in entries]}

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        entries = await session.scalars(
            select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.seq)
        )
        return {"entries": [row(e, *self.FIELDS, "prev_hash", "hash") for e in entries]}

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        return 0


class NotificationsPart:
    """The person's notification settings (a row only once they changed the defaults). A
    personal preference, not the organization's business: no organization export."""

    name = "notifications"

    async def export(self, session: AsyncSession, user: User) -> Exported:
        held = await notification_settings.held(session, user.id)
        fields = (*notification_settings.FIELDS, "updated_at")
        return {"settings": [] if held is None else [row(held, *fields)]}

    async def export_org(self, session: AsyncSession, org_id: int) -> Exported:
        return {}

    async def erase(self, session: AsyncSession, user: User, policy: ErasurePolicy) -> int:
        return await notification_settings.forget(session, user.id)


def core_parts(secret: str) -> tuple[DataPart, ...]:
    """The parts of the features on main; later features append theirs. ``secret``: the
    server's secret key (the analytics fold's pair hashes)."""
    return (
        AccountPart(),
        OfficePart(),
        ChatPart(),
        NotificationsPart(),
        AnalyticsPart(secret),
        AuditPart(),
    )
