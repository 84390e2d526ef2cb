"""Who may walk into a room, and who answers a knock.

Open door: walk in. Closed door: knock when someone is inside (an empty room has nobody to
disturb); guests inside never answer a knock. Locked: owners and invited people only. Capacity
binds everyone, owners included.
A room reserved for a few people (a mentoring pair's room) admits them and nobody else,
whatever its door says and whoever invites: the door is the pair's, not a way in for others.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from rooms.layout import DoorState


class Outcome(StrEnum):
    ENTER = "enter"
    KNOCK = "knock"
    REFUSED_LOCKED = "locked"
    REFUSED_FULL = "full"
    REFUSED_PRIVATE = "private"  # reserved for other people (a mentoring pair's room)


@dataclass(frozen=True)
class RoomRules:
    room_id: int
    capacity: int
    door: DoorState
    owners: frozenset[int] = frozenset()
    # Only these people may come in (None: anyone the door lets in).
    reserved_for: frozenset[int] | None = None


def decide_entry(
    rules: RoomRules, user_id: int, occupants: Collection[int], *, invited: bool
) -> Outcome:
    if user_id in occupants:
        return Outcome.ENTER
    if rules.reserved_for is not None and user_id not in rules.reserved_for:
        return Outcome.REFUSED_PRIVATE
    if len(occupants) >= rules.capacity:
        return Outcome.REFUSED_FULL
    if invited or user_id in rules.owners:
        return Outcome.ENTER
    if rules.door is DoorState.LOCKED:
        return Outcome.REFUSED_LOCKED
    if rules.door is DoorState.CLOSED and occupants:
        return Outcome.KNOCK
    return Outcome.ENTER


def who_may_answer_a_knock(occupants: Collection[int], guests: Collection[int]) -> list[int]:
    """Occupants who may let someone in: anyone inside but a guest (a guest is let in, never
    lets in). When nobody inside may, the knock waits for someone who may to walk in."""
    outsiders = set(guests)
    return [user for user in occupants if user not in outsiders]


def who_hears_a_knock(
    occupants: Collection[int], do_not_disturb: Collection[int], guests: Collection[int] = ()
) -> list[int]:
    """Occupants who get the prompt: those who may answer, unless on do-not-disturb. If
    everyone who may answer is, the list is empty: the knock is held silently until someone
    inside becomes available, or it expires."""
    quiet = set(do_not_disturb)
    return [user for user in who_may_answer_a_knock(occupants, guests) if user not in quiet]
