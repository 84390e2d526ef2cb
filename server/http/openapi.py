"""The OpenAPI 3.1 document, built from the route table and the pydantic body models."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pydantic import BaseModel

    from server.http.routes import Route

OPENAPI_DOC = web.AppKey("openapi_doc", dict[str, Any])

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "invalid",
                        "unauthorized",
                        "forbidden",
                        "not_found",
                        "conflict",
                        "rate_limited",
                        "too_large",
                        "unsupported_media_type",
                        "unavailable",
                        "internal",
                    ],
                },
                "message": {"type": "string"},
                "retry_after": {"type": "number"},
            },
        }
    },
}

SESSION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["user", "roles", "csrf_token", "expires_at"],
    "properties": {
        "user": {
            "type": "object",
            "required": ["id", "display_name", "org_id"],
            "properties": {
                "id": {"type": "integer"},
                "display_name": {"type": "string"},
                "org_id": {"type": "integer"},
            },
        },
        "roles": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "role": {
                        "type": "string",
                        "enum": [
                            "org_admin",
                            "unit_admin",
                            "group_lead",
                            "program_manager",
                            "member",
                            "guest",
                        ],
                    },
                    "unit_id": {"type": ["integer", "null"]},
                    "group_id": {"type": ["integer", "null"]},
                },
            },
        },
        "csrf_token": {
            "type": "string",
            "description": "send as X-CSRF-Token on POST/PUT/PATCH/DELETE",
        },
        "expires_at": {"type": "string", "format": "date-time"},
        "password_change_required": {
            "type": "boolean",
            "description": "opened with an admin's reset credential: every other request "
            "answers 403 password_change_required until POST /api/me/password",
        },
        "security_notice": {
            "type": ["object", "null"],
            "description": "at sign-in only: an admin reset the password since the last "
            "sign-in (latest_reset, sign_ins) -- show it to the person",
        },
    },
}

READINESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "checks": {
            "type": "object",
            "additionalProperties": {"type": "string", "enum": ["ok", "unreachable"]},
        },
    },
}

GUEST_LINK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["room", "organization", "requires_admission", "expires_at"],
    "properties": {
        "room": {"type": "string"},
        "organization": {"type": "string"},
        "requires_admission": {"type": "boolean"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}

INVITE_CODE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code"],
    "properties": {
        "code": {
            "type": "string",
            "description": "give it to the people you invite; it is not shown again",
        }
    },
}


ROOM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "floor_id",
        "name",
        "kind",
        "x",
        "y",
        "w",
        "h",
        "capacity",
        "door",
        "owners",
    ],
    "properties": {
        "id": {"type": "integer"},
        "floor_id": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {
            "type": "string",
            "enum": [
                "team_room",
                "private_office",
                "meeting_room",
                "mentoring_room",
                "lobby",
                "town_hall",
            ],
        },
        "x": {"type": "integer"},
        "y": {"type": "integer"},
        "w": {"type": "integer"},
        "h": {"type": "integer"},
        "capacity": {"type": "integer"},
        "door": {"type": "string", "enum": ["open", "closed", "locked"]},
        "owners": {"type": "array", "items": {"type": "integer"}},
    },
}

LAYOUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["floors", "rooms"],
    "properties": {
        "floors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                },
            },
        },
        "rooms": {"type": "array", "items": {"$ref": "#/components/schemas/Room"}},
    },
}


GUEST_LINK_INFO: dict[str, Any] = {
    "type": "object",
    "required": [
        "id",
        "room_id",
        "created_at",
        "expires_at",
        "max_uses",
        "uses",
        "requires_admission",
        "state",
    ],
    "properties": {
        "id": {"type": "integer"},
        "room_id": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "max_uses": {"type": ["integer", "null"]},
        "uses": {"type": "integer"},
        "requires_admission": {"type": "boolean"},
        "state": {"type": "string", "enum": ["active", "expired", "used_up", "revoked"]},
    },
}

GUEST_LINK_CREATED: dict[str, Any] = {
    "allOf": [
        {"$ref": "#/components/schemas/GuestLinkInfo"},
        {
            "type": "object",
            "required": ["token", "url"],
            "properties": {"token": {"type": "string"}, "url": {"type": "string"}},
        },
    ]
}

GUEST_LINKS: dict[str, Any] = {
    "type": "object",
    "required": ["links"],
    "properties": {
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/GuestLinkInfo"}}
    },
}


_FIGURE: dict[str, Any] = {
    "type": ["object", "null"],
    "required": ["value", "suppressed", "pending"],
    "properties": {
        "value": {"type": ["number", "null"], "description": "null when suppressed or pending"},
        "suppressed": {
            "type": "boolean",
            "description": "hidden: it covers fewer people than the minimum group size, or "
            "together with the other published figures it would pin a hidden figure within "
            "less than the minimum group size (decided once for the whole organization)",
        },
        "pending": {
            "type": "boolean",
            "description": "the day or week has not ended (or not been published yet): no "
            "figure yet, which is not the same as hidden",
        },
    },
}

DASHBOARD_TABLE: dict[str, Any] = {
    "type": "object",
    "required": ["dashboard", "scope", "from", "to", "granularity", "columns", "rows"],
    "properties": {
        "dashboard": {
            "type": "string",
            "enum": [
                "active",
                "messages",
                "meetings",
                "rooms",
                "mentoring",
                "ties_minutes",
                "ties_new_pairs",
            ],
        },
        "scope": {"type": "string", "description": "org, unit:ID or group:ID"},
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "granularity": {"type": "string", "enum": ["day", "week"]},
        "unit": {"type": "string"},
        "min_group_size": {"type": "integer"},
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "period": {"type": "string", "format": "date"},
                    "pending": {"type": "boolean", "description": "not published yet"},
                    "cells": {"type": "array", "items": _FIGURE},
                    "total": _FIGURE,
                },
            },
        },
    },
}

ANALYTICS_POLICY: dict[str, Any] = {
    "type": "object",
    "required": ["per_person_activity"],
    "properties": {"per_person_activity": {"type": "boolean"}},
}

AUDIT_STATUS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intact": {"type": "boolean"},
        "first_broken_seq": {"type": ["integer", "null"]},
        "head": {
            "type": "object",
            "properties": {
                "entries": {"type": "integer"},
                "mac": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            },
        },
    },
}

ABOUT_ME: dict[str, Any] = {
    "type": "object",
    "required": ["figures", "looks"],
    "properties": {
        "audit": AUDIT_STATUS,
        "figures": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "dashboard": {"type": "string"},
                    "week": {"type": "string", "format": "date"},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "looks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "action": {"type": "string", "enum": ["viewed", "exported"]},
                    "admin": {
                        "type": "object",
                        "properties": {
                            "id": {"type": ["integer", "null"]},
                            "display_name": {"type": ["string", "null"]},
                        },
                    },
                    "dashboard": {"type": "string"},
                    "scope": {"type": "string"},
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "format": "date"},
                },
            },
        },
    },
}


def documented_path(path: str) -> str:
    """``/rooms/{room_id:\\d+}`` as aiohttp routes it is ``/rooms/{room_id}`` in OpenAPI."""
    return re.sub(r"{(\w+):[^}]*}", r"{\1}", path)


def _path_schema(pattern: str) -> dict[str, Any]:
    """Ids (routed as ``\\d+``) are integers; anything else is a string without a slash."""
    if pattern == r"\d+":
        return {"type": "integer", "minimum": 0}
    return {"type": "string", "pattern": "^[^/]+$"}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One query parameter per field, by its public name; optional ones lose their null."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    parameters = []
    for name, field in schema.get("properties", {}).items():
        field = dict(field)
        options = [o for o in field.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            field.update(options[0])
        elif options:
            field["anyOf"] = options
        if "default" in field and field["default"] is None:
            del field["default"]
        parameters.append(
            {"name": name, "in": "query", "required": name in required, "schema": field}
        )
    return parameters


def _model_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """A response model as a component (its nested models become components too)."""
    schema = model.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_document(routes: Iterable[Route], version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": ERROR_SCHEMA,
        "Session": SESSION_SCHEMA,
        "Readiness": READINESS_SCHEMA,
        "GuestLink": GUEST_LINK_SCHEMA,
        "InviteCode": INVITE_CODE_SCHEMA,
        "Room": ROOM_SCHEMA,
        "Layout": LAYOUT_SCHEMA,
        "GuestLinkInfo": GUEST_LINK_INFO,
        "GuestLinkCreated": GUEST_LINK_CREATED,
        "GuestLinks": GUEST_LINKS,
        "DashboardTable": DASHBOARD_TABLE,
        "AnalyticsPolicy": ANALYTICS_POLICY,
        "AboutMe": ABOUT_ME,
        "AuditStatus": AUDIT_STATUS,
    }
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.tag}_{route.handler.__name__}",
            "tags": [route.tag],
            "responses": {},
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _path_schema(pattern)}
            for name, pattern in re.findall(r"{(\w+)(?::([^}]*))?}", route.path)
        ]
        if route.query is not None:
            parameters += _query_parameters(route.query)
        if parameters:
            operation["parameters"] = parameters
        if route.signed_in:
            operation["security"] = [{"session": []}]
        if route.body is not None:
            name = route.body.__name__
            body_schema = route.body.model_json_schema(ref_template="#/components/schemas/{model}")
            # Nested models (e.g. a weights object) become components of their own.
            schemas.update(body_schema.pop("$defs", {}))
            schemas[name] = body_schema
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            }
        if route.upload:
            operation["requestBody"] = {
                "required": True,
                "content": {
                    kind: {"schema": {"type": "string", "format": "binary"}}
                    for kind in route.upload
                },
            }
        responses = dict(route.responses)
        if route.body is not None:
            # Every body goes through parse_body, which can refuse it either way.
            responses.setdefault(400, "malformed body")
            responses.setdefault(413, "body too large")
        for status, description in sorted(responses.items()):
            response: dict[str, Any] = {"description": description}
            if status >= 400:
                response["content"] = {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                }
                if status == 429:
                    response["headers"] = {
                        "Retry-After": {
                            "schema": {"type": "integer"},
                            "description": "seconds to wait",
                        }
                    }
            elif status not in (204, 304):
                schema: dict[str, Any] = {"type": "object"}
                if isinstance(route.response_schema, str):
                    schema = {"$ref": f"#/components/schemas/{route.response_schema}"}
                elif route.response_schema is not None:
                    schema = _model_ref(route.response_schema, schemas)
                if route.content_type != "application/json":
                    schema = {"type": "string"}
                response["content"] = {route.content_type: {"schema": schema}}
            operation["responses"][str(status)] = response
        paths.setdefault(documented_path(route.path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Officehours HTTP API",
            "version": version,
            "description": "Unsafe methods need an allowed Origin (when sent) and, with a "
            "session cookie, the session's X-CSRF-Token header.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "officehours_session"}
            },
        },
    }


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI_DOC])
