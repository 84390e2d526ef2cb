"""What the audit log can say happened. A new action needs no migration (no CHECK)."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # People and access
    ACCOUNT_SUSPENDED = "account.suspended"
    ACCOUNT_RESTORED = "account.restored"
    PASSWORD_RESET = "account.password_reset"  # noqa: S105 (an action name)
    # The person (or whoever holds it) signed in with the one-time credential of a reset.
    RESET_CREDENTIAL_USED = "account.reset_credential_used"
    ACCOUNT_ERASED = "account.erased"
    ROLE_GRANTED = "role.granted"
    ROLE_REVOKED = "role.revoked"
    MEMBERSHIP_PROPOSED = "membership.proposed"  # waits for the person's consent
    # Data rights and policy
    EXPORT_PERSON = "export.person"
    EXPORT_ORGANIZATION = "export.organization"
    POLICY_CHANGED = "policy.changed"
    RETENTION_RUN = "retention.run"
    # Office
    LAYOUT_CHANGED = "layout.changed"
    GUEST_LINK_CREATED = "guest_link.created"
    GUEST_LINK_REVOKED = "guest_link.revoked"
    # Mentoring
    PROGRAM_CREATED = "program.created"
    PROGRAM_CHANGED = "program.changed"
    PROGRAM_STEP_PUBLISHED = "program.step_published"
    ENROLMENT_INVITED = "enrolment.invited"
    ENROLMENT_REMOVED = "enrolment.removed"
    MATCH_MADE = "match.made"
    MATCH_ENDED = "match.ended"
    MATCHING_RUN = "matching.run"
    WEIGHTS_CHANGED = "matching.weights_changed"
    # A program manager (or admin) looked: what they read is metadata about people, so each
    # look is recorded like a dashboard view (ids only).
    PROGRAM_HEALTH_VIEWED = "program.health_viewed"
    ENROLMENTS_VIEWED = "enrolment.profiles_viewed"
    SUGGESTIONS_VIEWED = "matching.suggestions_viewed"
    MATCHING_PREVIEWED = "matching.previewed"
    # Analytics
    DASHBOARD_VIEWED = "dashboard.viewed"
    DASHBOARD_EXPORTED = "dashboard.exported"


class TargetKind(StrEnum):
    USER = "user"
    ORGANIZATION = "organization"
    UNIT = "unit"
    GROUP = "group"
    FLOOR = "floor"
    ROOM = "room"
    GUEST_LINK = "guest_link"
    PROGRAM = "program"
    ENROLMENT = "enrolment"
    PAIR = "pair"
    SESSION = "session"  # a mentoring session
    GOAL = "goal"  # a mentoring pair's goal
    DASHBOARD = "dashboard"
    POLICY = "policy"
