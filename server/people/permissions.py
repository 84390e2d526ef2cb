"""Who may manage what: scope rules over the org → unit → group hierarchy.

Pure functions of a principal and a target scope; services look up the target's unit and
organization first, so a scope in another organization never matches.
"""

from __future__ import annotations

from server.people.identity import Principal, Role


def may_manage(
    principal: Principal, *, org_id: int, unit_id: int | None, group_id: int | None
) -> bool:
    """Org admins manage their whole organization, unit admins their unit, group leads their
    group. ``unit_id`` must be the unit of ``group_id`` when both are given."""
    if principal.org_id != org_id:
        return False
    for grant in principal.grants:
        if grant.role is Role.ORG_ADMIN:
            return True
        if grant.role is Role.UNIT_ADMIN and unit_id is not None and grant.unit_id == unit_id:
            return True
        if grant.role is Role.GROUP_LEAD and group_id is not None and grant.group_id == group_id:
            return True
    return False
