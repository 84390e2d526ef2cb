"""Who is acting: roles, account states and the authenticated principal.

Kept apart from storage so that handlers, services and tests speak of a ``Principal`` and
never pass raw rows around.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Roles are scoped: org_admin and program_manager to the organization, unit_admin to a
    unit, group_lead and member to a group (or the organization), guest to one room."""

    ORG_ADMIN = "org_admin"
    UNIT_ADMIN = "unit_admin"
    GROUP_LEAD = "group_lead"
    PROGRAM_MANAGER = "program_manager"
    MEMBER = "member"
    GUEST = "guest"


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ERASED = "erased"


@dataclass(frozen=True)
class Grant:
    """One role at one scope; ``unit_id``/``group_id`` of None mean organization-wide."""

    role: Role
    unit_id: int | None = None
    group_id: int | None = None


@dataclass(frozen=True)
class Principal:
    user_id: int
    org_id: int
    display_name: str
    grants: tuple[Grant, ...]
    session_id: int
    # Guests are confined to one room, and may need someone inside to admit them.
    guest_room_id: int | None = None
    guest_needs_admission: bool = False
    # Where their profile picture is served (None: none); presence shows it with the name.
    avatar_url: str | None = None

    @property
    def is_guest(self) -> bool:
        return self.guest_room_id is not None

    def has_role(self, role: Role) -> bool:
        return any(g.role is role for g in self.grants)

    @property
    def roles(self) -> tuple[Role, ...]:
        return tuple(dict.fromkeys(g.role for g in self.grants))
