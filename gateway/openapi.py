"""The HTTP API described once: an OpenAPI 3.1 document, served at ``GET /api/openapi.json``
and rendered as docs/api.md (``python -m gateway.openapi --markdown``).

Why a table here and not schemas scattered over the handlers: the handlers are thin and live in
many packages; one table is easy to read and review, and tests/test_openapi.py walks the app's
router so that a route without an operation here (or an operation without a route) fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.ids import MAX_ID
from gateway.model import Role

JSON = "application/json"
Schema = dict[str, Any]

# --- schema helpers -------------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema] | None = None, **optional: Schema) -> Schema:
    """An object with these required and optional properties (others may be added later)."""
    props = {**(required or {}), **optional}
    out: Schema = {"type": "object", "properties": props}
    if required:
        out["required"] = list(required)
    return out


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJ: Schema = {"type": "object"}
ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
TIME: Schema = {"type": "string", "format": "date-time"}
NAME: Schema = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}

SCHEMAS: dict[str, Schema] = {
    "Appeal": obj(
        {
            "id": ID,
            "reference": STR,
            "reference_display": STR,
            "customer_id": ID,
            "topic": STR,
            "category": STR,
            "priority": STR,
            "status": STR,
            "stage": INT,
            "queue": STR,
            "version": INT,
            "allowed_actions": array(STR),
        },
        customer_name=nullable(STR),
        topic_title=STR,
        stage_name=nullable(STR),
        stages=array(ANY_OBJ),
        owner_id=nullable(ID),
        owner_name=nullable(STR),
        fields=ANY_OBJ,
        summary=STR,
        language=STR,
        channel=nullable(STR),
        conversation_id=nullable(ID),
        created_at=TIME,
        updated_at=TIME,
        stage_since=TIME,
        stage_warn_at=nullable(TIME),
        stage_due_at=nullable(TIME),
        late=BOOL,
        nearly_late=BOOL,
        returned_reason=nullable(STR),
        first_response_at=nullable(TIME),
        first_response_due_at=nullable(TIME),
        resolution_due_at=nullable(TIME),
        paused_at=nullable(TIME),
        resolved_at=nullable(TIME),
        closed_at=nullable(TIME),
        offered_to=nullable(ID),
        offer_expires_at=nullable(TIME),
        history=array(ANY_OBJ),
        notes=array(ANY_OBJ),
        conversations=array(ANY_OBJ),
        pauses=array(ANY_OBJ),
        notices=array(ANY_OBJ),
        alerts=array(ANY_OBJ),
        form=array(ANY_OBJ),
        attachments=array(ANY_OBJ),
    ),
    "Callback": obj(
        {
            "id": ID,
            "appeal_id": ID,
            "reference": STR,
            "reference_display": STR,
            "topic": STR,
            "topic_title": STR,
            "kind": {"enum": ["callback"]},
            "queue": STR,
            "action": {"enum": ["callback", "done"]},
            "created_at": TIME,
            "status": STR,
            "customer_id": ID,
        },
        stage=INT,
        due_at=TIME,
        notify_at=nullable(TIME),
        notified_at={**nullable(TIME), "description": "when it was marked done"},
        owner_id=nullable(ID),
        customer_name=nullable(STR),
        event={**nullable(STR), "description": "the notice that reached the customer nowhere"},
        tried={**array(STR), "description": "the channels that notice tried, in turn"},
        error=nullable(STR),
        phones={
            **array(obj({"name": STR, "label": STR, "number": STR})),
            "description": "phone numbers among the appeal's fields",
        },
    ),
    "Error": {
        "type": "object",
        "description": "Every refusal: a code for programs and a reason for people. Some carry "
        "more (the problems of a configuration, the current version).",
        "properties": {
            "error": STR,
            "reason": STR,
            "request_id": STR,
            "problems": {"type": "array"},
            "current": {},
            "ok": BOOL,
        },
        "required": ["error"],
    },
    "User": obj({"id": ID, "username": STR, "display_name": STR, "role": STR}),
    "Me": obj({"user": ref("User"), "csrf_token": nullable(STR)}),
    "Message": obj(
        {
            "id": ID,
            "seq": ID,
            "conversation_id": ID,
            "direction": {"enum": ["in", "out"]},
            "author": STR,
            "text": STR,
            "created_at": TIME,
            "status": STR,
            "attachments": array(ANY_OBJ),
        },
        channel=STR,
        buttons=array(ANY_OBJ),
    ),
    "Conversation": obj(
        {
            "id": ID,
            "customer": obj({"id": ID, "name": nullable(STR)}),
            "channel": STR,
            "identity_id": nullable(ID),
            "status": STR,
            "queue": nullable(STR),
            "operator_id": nullable(ID),
            "created_at": TIME,
        }
    ),
    "ConversationDetail": {
        "allOf": [ref("Conversation"), obj({"messages": array(ref("Message"))})],
    },
    "Transfer": ANY_OBJ,
    "Wait": obj(
        {"in_line": BOOL, "position": nullable(INT), "expected_wait_seconds": nullable(INT)},
        queue=STR,
    ),
    "RoutingVersion": obj(
        {"version": ID, "source": STR, "created_by": nullable(ID), "created_at": TIME}
    ),
    "RoutingConfig": obj(
        {"version": nullable(ID), "config": ANY_OBJ}, source=STR, created_by=nullable(ID)
    ),
    "AuditEntry": obj(
        {
            "id": ID,
            "actor_id": nullable(ID),
            "actor": STR,
            "action": STR,
            "target": STR,
            "detail": ANY_OBJ,
            "created_at": TIME,
        }
    ),
    "MenuVersion": obj(
        {
            "id": ID,
            "menu_id": STR,
            "version": {},
            "source": STR,
            "created_by": nullable(ID),
            "created_at": TIME,
        },
        source_text=STR,
        author=nullable(STR),
    ),
    "TopicProblem": obj(
        {"line": nullable(INT), "key": STR, "message": STR, "text": STR},
    ),
    "TopicsVersion": obj(
        {"version": ID, "source": STR, "created_by": nullable(ID), "created_at": TIME},
        author=nullable(STR),
        document=ANY_OBJ,
        yaml=STR,
    ),
    "Topics": obj(
        {
            "version": nullable(ID),
            "source": STR,
            "created_by": nullable(ID),
            "created_at": nullable(TIME),
            "document": ANY_OBJ,
            "yaml": STR,
            "topics": array(ANY_OBJ),
        }
    ),
}

# --- operations -----------------------------------------------------------------------------

# The path parameters every route names the same way; overridden per operation where needed.
PATH_PARAMS: dict[str, Schema] = {
    "id": ID,
    "identity_id": ID,
    "version_id": ID,
    "version": ID,
    "index": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    "section": {"enum": ["skills", "operators", "queues"]},
    "name": NAME,
    "reference": {"type": "string", "maxLength": 40},
    "attachment_id": ID,
}
MENU_ID: Schema = NAME


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    tag: str
    role: Role | None = Role.OPERATOR  # None: no sign-in needed
    ok: int = 200
    result: Schema | None = field(default_factory=lambda: dict(ANY_OBJ))
    body: Schema | None = None
    query: dict[str, tuple[Schema, bool]] = field(default_factory=dict)
    path_params: dict[str, Schema] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    result_type: str = JSON


def _version_body(key: str, value: Schema) -> Schema:
    return obj({key: value}, version=nullable(ID))


_ROUTING = "admin: routing"
_IVR = "admin: IVR menus"
_TOPICS = "admin: appeal topics"
_APPEALS = "appeals"
# A topics draft: the file's YAML text, or the same document as JSON (one of the two).
_TOPICS_DRAFT: Schema = obj(yaml=STR, document=ANY_OBJ)

OPERATIONS: tuple[Op, ...] = (
    # signing in
    Op(
        "post",
        "/api/login",
        "Sign in with a password; sets the session cookie and returns the CSRF token.",
        "auth",
        role=None,
        result=ref("Me"),
        body=obj({"username": STR, "password": STR}),
        errors=(400, 401, 413, 422, 429),
    ),
    Op("post", "/api/logout", "End this session.", "auth", result=obj({"ok": BOOL})),
    Op("get", "/api/me", "Who is signed in, with the CSRF token.", "auth", result=ref("Me")),
    Op(
        "post",
        "/api/tokens",
        "Create a bearer token for the API (shown once).",
        "auth",
        ok=201,
        result=obj({"token": STR, "name": STR}),
        body=obj(name=STR),
        errors=(400, 413, 422),
    ),
    Op(
        "get",
        "/api/demo/logins",
        "The demo accounts (only when the demo is configured).",
        "auth",
        role=None,
        result=obj({"logins": array(obj({"username": STR, "password": STR, "role": STR}))}),
        errors=(404,),
    ),
    Op(
        "get",
        "/api/openapi.json",
        "This document.",
        "meta",
        role=None,
        result=ANY_OBJ,
    ),
    # web chat
    Op(
        "post",
        "/api/webchat/session",
        "A visitor token for the web chat socket (from an allowed Origin), or the same "
        "visitor's token confirmed.",
        "web chat",
        role=None,
        result=obj({"token": STR, "visitor_id": STR}),
        body=obj(token=STR),
        errors=(400, 403, 413, 422),
    ),
    Op(
        "options",
        "/api/webchat/session",
        "CORS preflight for the widget (allowed Origins only).",
        "web chat",
        role=None,
        ok=204,
        result=None,
        errors=(403,),
    ),
    # the operator console
    Op(
        "get",
        "/api/conversations",
        "The caller's open conversations (a supervisor's: everyone's).",
        "console",
        result=obj({"conversations": array(ref("Conversation"))}),
    ),
    Op(
        "get",
        "/api/conversations/{id}",
        "One conversation with its messages.",
        "console",
        result=obj({"conversation": ref("ConversationDetail")}),
        errors=(404,),
    ),
    Op(
        "post",
        "/api/conversations/{id}/messages",
        "Reply to the customer (once per client_id), on the conversation's channel or on "
        "another of the customer's identities.",
        "console",
        ok=201,
        result=obj({"message": ref("Message")}),
        body=obj(
            {
                "client_id": {"type": "string", "minLength": 8, "maxLength": 64},
                "text": {"type": "string", "minLength": 1, "maxLength": 4000},
            },
            identity_id=nullable(ID),
        ),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "post",
        "/api/conversations/{id}/resolve",
        "Close the conversation, with an optional wrap-up code (one of `dispositions` in "
        "`GET /api/appeal-topics`).",
        "console",
        result=obj({"conversation_id": ID, "status": STR, "disposition": nullable(STR)}),
        body=obj(disposition={"type": "string", "maxLength": 64}),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "post",
        "/api/conversations/{id}/transfer",
        "Hand the conversation to a named operator or back to a queue.",
        "console",
        result=obj({"transfer": ref("Transfer")}),
        body=obj(to_operator=ID, queue=STR, note={"type": "string", "maxLength": 500}),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "post",
        "/api/conversations/{id}/send-back",
        "Send the conversation back to the previous step of its routing rule, with a reason.",
        "console",
        result=obj({"transfer": ref("Transfer")}),
        body=obj({"reason": {"type": "string", "minLength": 1, "maxLength": 500}}),
        errors=(400, 404, 409, 413, 422),
    ),
    Op(
        "get",
        "/api/transfer-targets",
        "Where a conversation can be transferred: queues and colleagues.",
        "console",
        result=obj(
            {
                "queues": array(obj({"name": STR, "description": nullable(STR)})),
                "operators": array(obj({"id": ID, "name": nullable(STR), "state": STR})),
            }
        ),
    ),
    Op(
        "post",
        "/api/messages/{id}/resend",
        "Send a failed or undelivered reply again.",
        "console",
        result=obj({"message_id": ID, "status": STR}),
        errors=(400, 404, 409, 413),
    ),
    Op(
        "post",
        "/api/offers/{id}/accept",
        "Accept an offer: the conversation becomes the caller's.",
        "console",
        result=obj({"conversation": ref("ConversationDetail")}),
        errors=(400, 404, 409, 413),
    ),
    Op(
        "post",
        "/api/offers/{id}/decline",
        "Decline an offer: the contact goes back to routing.",
        "console",
        result=obj({"conversation_id": ID}),
        errors=(400, 404, 409, 413),
    ),
    Op(
        "post",
        "/api/operator/state",
        "Go available or away.",
        "console",
        result=obj({"state": STR}),
        body=obj({"state": {"enum": ["available", "away"]}}),
        errors=(400, 413, 422),
    ),
    # the supervisor
    Op(
        "get",
        "/api/supervisor/overview",
        "Queues, operators, service level and waiting contacts, live.",
        "supervisor",
        role=Role.SUPERVISOR,
    ),
    Op(
        "get",
        "/api/appeals/overview",
        "Appeals per queue (awaiting, in progress, pending, late, nearly late), the deadline "
        "alerts whose situation still stands and the call-back tasks not done yet, newest first.",
        "supervisor",
        role=Role.SUPERVISOR,
        result=obj(
            {
                "at": TIME,
                "queues": array(
                    obj(
                        {
                            "queue": STR,
                            "open": INT,
                            "awaiting": INT,
                            "in_progress": INT,
                            "pending": INT,
                            "pending_customer": INT,
                            "pending_third_party": INT,
                            "late": INT,
                            "nearly_late": INT,
                        }
                    )
                ),
                "alerts": array(
                    obj(
                        {
                            "id": ID,
                            "appeal_id": ID,
                            "reference": STR,
                            "reference_display": STR,
                            "topic": STR,
                            "kind": {
                                "enum": [
                                    "stage_warning",
                                    "stage_breach",
                                    "first_response_warning",
                                    "first_response_breach",
                                    "resolution_warning",
                                    "resolution_breach",
                                ]
                            },
                            "stage": INT,
                            "queue": STR,
                            "due_at": TIME,
                            "action": nullable({"enum": ["warn", "escalate", "notify"]}),
                            "created_at": TIME,
                            "notify_at": nullable(TIME),
                            "notified_at": nullable(TIME),
                            "status": STR,
                            "owner_id": nullable(ID),
                        }
                    )
                ),
                "callbacks": array(ref("Callback")),
            }
        ),
    ),
    Op(
        "get",
        "/api/conversations/{id}/wait",
        "A conversation's place in line and expected wait.",
        "supervisor",
        role=Role.SUPERVISOR,
        result=ref("Wait"),
        errors=(404,),
    ),
    Op(
        "post",
        "/api/supervisor/conversations/{id}/assign",
        "Give a waiting, offered or assigned contact to a named operator who qualifies for it: "
        "it becomes an offer to them (a pending offer to someone else is revoked first).",
        "supervisor",
        role=Role.SUPERVISOR,
        result=ANY_OBJ,
        body=obj({"operator_id": ID}),
        errors=(400, 404, 409, 413, 422),
    ),
    Op(
        "post",
        "/api/operators/{id}/logout",
        "Sign an operator out everywhere; their contacts go back to routing.",
        "supervisor",
        role=Role.SUPERVISOR,
        result=obj({"operator_id": ID, "state": STR}),
        errors=(404,),
    ),
    # customers
    Op(
        "get",
        "/api/customers/{id}",
        "A customer with their identities on every channel.",
        "customers",
        result=obj({"customer": ANY_OBJ}),
        errors=(404,),
    ),
    Op(
        "get",
        "/api/identities",
        "Find an identity by channel and address (a phone number in any usual form).",
        "customers",
        result=obj({"identity": ANY_OBJ}),
        query={
            "channel": (
                {"enum": ["sms", "whatsapp", "voice", "telegram", "email", "webchat"]},
                True,
            ),
            "address": ({"type": "string", "minLength": 1, "maxLength": 200}, True),
        },
        errors=(404, 422),
    ),
    Op(
        "post",
        "/api/customers/{id}/identities",
        "Link an identity to this customer (audited, can be undone).",
        "customers",
        result=obj({"linked": ID, "undo_id": ID}),
        body=obj({"identity_id": ID}),
        errors=(400, 404, 409, 413, 422),
    ),
    Op(
        "delete",
        "/api/customers/{id}/identities/{identity_id}",
        "Unlink an identity: it becomes a customer of its own (audited, can be undone).",
        "customers",
        result=obj({"unlinked": ID, "undo_id": ID}),
        errors=(404, 409),
    ),
    Op(
        "post",
        "/api/customer-links/{id}/undo",
        "Undo a link or an unlink.",
        "customers",
        result=obj({"undone": ID, "undo_id": ID}),
        errors=(404, 409),
    ),
    Op(
        "get",
        "/api/messages/{id}/attachments/{index}",
        "A file a customer sent (always a download).",
        "customers",
        result={"type": "string", "format": "binary"},
        result_type="application/octet-stream",
        errors=(404,),
    ),
    # admin: routing
    Op(
        "get",
        "/api/admin/routing",
        "The routing in force.",
        _ROUTING,
        role=Role.ADMIN,
        result=ref("RoutingConfig"),
    ),
    Op(
        "put",
        "/api/admin/routing",
        "Replace the whole routing configuration.",
        _ROUTING,
        role=Role.ADMIN,
        result=ref("RoutingConfig"),
        body=_version_body("config", ANY_OBJ),
        errors=(400, 409, 413, 422),
    ),
    Op(
        "post",
        "/api/admin/routing/validate",
        "Would this configuration be accepted? Nothing is stored.",
        _ROUTING,
        role=Role.ADMIN,
        result=obj({"ok": BOOL, "problems": {"type": "array"}}),
        body=obj(config=ANY_OBJ),
        errors=(400, 413, 422),
    ),
    Op(
        "post",
        "/api/admin/routing/rollback",
        "Make an earlier version the one in force (as a new version).",
        _ROUTING,
        role=Role.ADMIN,
        result=ref("RoutingConfig"),
        body=obj({"to_version": ID}, version=nullable(ID)),
        errors=(400, 404, 409, 413, 422),
    ),
    Op(
        "get",
        "/api/admin/routing/versions",
        "The last 100 versions.",
        _ROUTING,
        role=Role.ADMIN,
        result=obj({"versions": array(ref("RoutingVersion"))}),
    ),
    Op(
        "put",
        "/api/admin/routing/rules",
        "Replace the routing rules.",
        _ROUTING,
        role=Role.ADMIN,
        result=ref("RoutingConfig"),
        body=_version_body("rules", array(ANY_OBJ)),
        errors=(400, 409, 413, 422),
    ),
    Op(
        "put",
        "/api/admin/routing/policy",
        "Replace the choice policy.",
        _ROUTING,
        role=Role.ADMIN,
        result=ref("RoutingConfig"),
        body=_version_body("policy", ANY_OBJ),
        errors=(400, 409, 413, 422),
    ),
    Op(
        "put",
        "/api/admin/routing/{section}/{name}",
        "Add or replace one skill, operator profile or queue.",
        _ROUTING,
        role=Role.ADMIN,
        result=ref("RoutingConfig"),
        body=_version_body("value", {}),
        errors=(400, 404, 409, 413, 422),
    ),
    Op(
        "delete",
        "/api/admin/routing/{section}/{name}",
        "Remove one skill, operator profile or queue.",
        _ROUTING,
        role=Role.ADMIN,
        result=ref("RoutingConfig"),
        query={"version": (ID, False)},
        errors=(404, 409, 422),
    ),
    Op(
        "get",
        "/api/admin/audit",
        "The audit log, newest first.",
        _ROUTING,
        role=Role.ADMIN,
        result=obj({"entries": array(ref("AuditEntry"))}),
        query={
            "limit": ({"type": "integer", "minimum": 1, "maximum": 500}, False),
            "before": (ID, False),
        },
        errors=(422,),
    ),
    Op(
        "get",
        "/api/admin/operators",
        "Every staff account with its routing profile and capacity.",
        _ROUTING,
        role=Role.ADMIN,
        result=obj({"operators": array(ANY_OBJ)}),
    ),
    # admin: IVR menus
    Op(
        "get",
        "/api/admin/ivr/menus",
        "The menus in force.",
        _IVR,
        role=Role.ADMIN,
        result=obj({"menus": array(ANY_OBJ)}),
    ),
    Op(
        "get",
        "/api/admin/ivr/menus/{id}",
        "One menu in force, with its text and diagram.",
        _IVR,
        role=Role.ADMIN,
        path_params={"id": MENU_ID},
        errors=(404,),
    ),
    Op(
        "put",
        "/api/admin/ivr/menus/{id}",
        "Publish a menu's YAML (validated against the routing in force).",
        _IVR,
        role=Role.ADMIN,
        ok=201,
        result=ref("MenuVersion"),
        path_params={"id": MENU_ID},
        body=obj({"source_text": STR}, expected_version=nullable(ID)),
        errors=(400, 409, 413, 422),
    ),
    Op(
        "get",
        "/api/admin/ivr/menus/{id}/versions",
        "A menu's history.",
        _IVR,
        role=Role.ADMIN,
        result=obj({"versions": array(ref("MenuVersion"))}),
        path_params={"id": MENU_ID},
        errors=(404,),
    ),
    Op(
        "get",
        "/api/admin/ivr/menus/{id}/versions/{version_id}",
        "One version of a menu, with its text.",
        _IVR,
        role=Role.ADMIN,
        result=ref("MenuVersion"),
        path_params={"id": MENU_ID},
        errors=(404,),
    ),
    Op(
        "post",
        "/api/admin/ivr/menus/{id}/rollback",
        "Publish an earlier version again (as a new version).",
        _IVR,
        role=Role.ADMIN,
        result=ref("MenuVersion"),
        path_params={"id": MENU_ID},
        body=obj({"version_id": ID}),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "post",
        "/api/admin/ivr/menus/{id}/simulate",
        "One step of a simulated call (nothing is stored, nobody is called).",
        _IVR,
        role=Role.ADMIN,
        path_params={"id": MENU_ID},
        body=obj(source_text=STR, state={}, event={}, attributes={}, at={}),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "post",
        "/api/admin/ivr/validate",
        "Would this YAML go live? With the diagram of the draft.",
        _IVR,
        role=Role.ADMIN,
        body=obj({"source_text": STR}),
        errors=(400, 413, 422),
    ),
    # admin: appeal topics
    Op(
        "get",
        "/api/admin/topics",
        "The topics in force: version, document, YAML text and the list of topics.",
        _TOPICS,
        role=Role.ADMIN,
        result=ref("Topics"),
    ),
    Op(
        "put",
        "/api/admin/topics",
        "Publish topics (YAML text or the document as JSON), checked against the routing in "
        "force; 422 lists every problem with its line, 409 when the version moved.",
        _TOPICS,
        role=Role.ADMIN,
        result=ref("Topics"),
        body=obj(yaml=STR, document=ANY_OBJ, expected_version=nullable(ID)),
        errors=(400, 409, 413, 422),
    ),
    Op(
        "post",
        "/api/admin/topics/validate",
        "Would these topics go live? Nothing is stored.",
        _TOPICS,
        role=Role.ADMIN,
        result=obj({"ok": BOOL, "problems": array(ref("TopicProblem")), "topics": array(ANY_OBJ)}),
        body=_TOPICS_DRAFT,
        errors=(400, 413, 422),
    ),
    Op(
        "get",
        "/api/admin/topics/versions",
        "The last 100 versions, newest first.",
        _TOPICS,
        role=Role.ADMIN,
        result=obj({"versions": array(ref("TopicsVersion"))}),
    ),
    Op(
        "get",
        "/api/admin/topics/versions/{version}",
        "One version, with its document and YAML text.",
        _TOPICS,
        role=Role.ADMIN,
        result=ref("TopicsVersion"),
        errors=(404,),
    ),
    Op(
        "post",
        "/api/admin/topics/rollback",
        "Make an earlier version the one in force again (as a new version).",
        _TOPICS,
        role=Role.ADMIN,
        result=ref("Topics"),
        body=obj({"version": ID}, expected_version=nullable(ID)),
        errors=(400, 404, 409, 413, 422),
    ),
    # appeals
    Op(
        "get",
        "/api/appeals/callbacks",
        "Call-back tasks: appeals whose notice reached the customer on none of their channels, "
        "until one is marked done or the appeal is closed (operators: their queues; "
        "supervisors: every one), newest first.",
        _APPEALS,
        result=obj({"callbacks": array(ref("Callback"))}),
        query={"queue": (STR, False)},
    ),
    Op(
        "post",
        "/api/appeals/callbacks/{id}/done",
        "Mark a call-back task done (you called the customer), with an optional note that goes "
        "into the appeal's history (`callback_done`). Operators: tasks of their queues (404 "
        "otherwise); 409 when it was marked done already.",
        _APPEALS,
        result=obj({"callback": ref("Callback")}),
        body=obj(note={"type": "string", "maxLength": 1000}),
        path_params={"id": ID},
        errors=(400, 404, 409, 413, 422),
    ),
    Op(
        "get",
        "/api/appeal-topics",
        "The topics an appeal can be opened on (their forms and routes) and the wrap-up codes.",
        _APPEALS,
        result=obj({"topics": array(ANY_OBJ), "dispositions": array(ANY_OBJ)}),
        query={"language": (STR, False)},
    ),
    Op(
        "post",
        "/api/appeals",
        "Register an appeal: from a conversation you serve, or (supervisors and API clients) "
        "for a customer named by id or address, with an idempotency key. The same key or the "
        "same conversation again answers 200 with the appeal registered first.",
        _APPEALS,
        ok=201,
        result=obj({"appeal": ref("Appeal"), "created": BOOL}),
        body=obj(
            {"topic": STR},
            conversation_id=ID,
            customer_id=ID,
            channel=STR,
            address=STR,
            priority={"enum": ["low", "normal", "high", "urgent"]},
            fields=ANY_OBJ,
            summary={"type": "string", "maxLength": 500},
            language={"type": "string", "maxLength": 8},
            idempotency_key={"type": "string", "minLength": 1, "maxLength": 200},
        ),
        errors=(400, 403, 404, 409, 413, 422),
    ),
    Op(
        "get",
        "/api/appeals",
        "Appeals you may see, late and nearly late first; `status=open` for every open one; "
        "`queue=mine` for those in the queues you work in (named in `queues`).",
        _APPEALS,
        result=obj({"appeals": array(ref("Appeal"))}, queues=array(STR)),
        query={
            "status": (STR, False),
            "queue": (STR, False),
            "owner": (STR, False),
            "customer_id": (ID, False),
            "late": ({"enum": ["1", "true", "0", "false"]}, False),
        },
        errors=(422,),
    ),
    Op(
        "get",
        "/api/appeals/by-reference/{reference}",
        "An appeal by the number the customer quotes (any grouping; the check digit must hold).",
        _APPEALS,
        result=obj({"appeal": ref("Appeal")}),
        errors=(404,),
    ),
    Op(
        "get",
        "/api/appeals/{id}",
        "One appeal with its history, notes, conversations, pauses, notices, alerts and form.",
        _APPEALS,
        result=obj({"appeal": ref("Appeal")}),
        errors=(404,),
    ),
    Op(
        "patch",
        "/api/appeals/{id}",
        "Change the topic's fields, the summary or (supervisors) the priority, against the "
        "version you loaded.",
        _APPEALS,
        result=obj({"appeal": ref("Appeal")}),
        body=obj(
            {"expected_version": ID},
            fields={"type": "object", "description": "changed fields; null clears one"},
            summary={"type": "string", "maxLength": 500},
            priority={"enum": ["low", "normal", "high", "urgent"]},
        ),
        errors=(400, 403, 404, 409, 413, 422),
    ),
    Op(
        "post",
        "/api/appeals/{id}/actions",
        "Move the appeal: take, reassign, release, advance, send_back, escalate, wait_customer, "
        "wait_third_party, resume, resolve, close, cancel, reopen (reasons where required). An "
        "operator's take is 409 `at_capacity` while they work on as many appeals as their "
        "appeal capacity allows or are on a call; a take also accepts an offer.",
        _APPEALS,
        result=obj({"appeal": ref("Appeal")}),
        body=obj(
            {"action": STR, "expected_version": ID},
            owner_id=ID,
            reason={"type": "string", "maxLength": 1000},
        ),
        errors=(400, 403, 404, 409, 413, 422),
    ),
    Op(
        "post",
        "/api/appeals/{id}/decline",
        "Decline the appeal offered to you (a stage with `dispatch: offer`): the offer ends and "
        "it is offered to someone else, not to you again at this stage. Accept it with the "
        "action `take`.",
        _APPEALS,
        result=obj({"appeal": ref("Appeal")}),
        errors=(404,),
    ),
    Op(
        "post",
        "/api/appeals/{id}/notes",
        "Add an internal note (never shown to the customer).",
        _APPEALS,
        ok=201,
        result=obj({"note_id": ID}),
        body=obj({"text": {"type": "string", "minLength": 1, "maxLength": 10000}}),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "post",
        "/api/appeals/{id}/conversations",
        "Gather another conversation of the same customer into the appeal.",
        _APPEALS,
        result=obj({"linked": BOOL}),
        body=obj({"conversation_id": ID}),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "post",
        "/api/appeals/{id}/attachments",
        "Attach a file: one the customer sent (`message_id`, `index`) as JSON, or an upload "
        "as the multipart part `file` (at most 10 MB).",
        _APPEALS,
        ok=201,
        result=obj({"attachment_id": ID}),
        body=obj({"message_id": ID}, index={"type": "integer", "minimum": 0}),
        errors=(400, 404, 413, 422),
    ),
    Op(
        "get",
        "/api/appeals/{id}/attachments/{attachment_id}",
        "Download a file attached to the appeal.",
        _APPEALS,
        result={"type": "string", "format": "binary"},
        result_type="application/octet-stream",
        errors=(404,),
    ),
)

_REASONS = {
    400: "The body is not valid JSON, or the request is malformed.",
    401: "Not signed in: no session cookie and no valid bearer token.",
    403: "Not allowed: a role too low, a missing X-CSRF-Token with a cookie, or a foreign Origin.",
    404: "No such thing here (or not one of yours).",
    409: "A conflict: someone changed it first, or it is no longer possible.",
    413: "The body is larger than this endpoint takes.",
    422: "A field is missing or wrong; the reason names it.",
    429: "Too many attempts; wait a little.",
}


def _parameters(op: Op) -> list[Schema]:
    out: list[Schema] = []
    for name in _path_names(op.path):
        schema = op.path_params.get(name, PATH_PARAMS[name])
        out.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, (schema, required) in op.query.items():
        out.append({"name": name, "in": "query", "required": required, "schema": schema})
    return out


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _security(op: Op) -> list[dict[str, list[str]]]:
    if op.role is None:
        return []
    if op.method in ("get", "head", "options"):
        return [{"bearer": []}, {"session": []}]
    return [{"bearer": []}, {"session": [], "csrf": []}]


def _operation(op: Op) -> Schema:
    role = "no sign-in" if op.role is None else f"the {op.role.value} role or above"
    success: Schema = {"description": "Done."}
    if op.result is not None:
        success["content"] = {op.result_type: {"schema": op.result}}
    responses: dict[str, Schema] = {str(op.ok): success}
    codes = set(op.errors) | ({401, 403} if op.role is not None else set())
    for code in sorted(codes):
        responses[str(code)] = {
            "description": _REASONS[code],
            "content": {JSON: {"schema": ref("Error")}},
        }
    out: Schema = {
        "operationId": f"{op.method}_{op.path}".replace("/", "_").replace("{", "").replace("}", ""),
        "summary": op.summary,
        "description": f"Needs {role}.",
        "tags": [op.tag],
        "x-role": None if op.role is None else op.role.value,
        "parameters": _parameters(op),
        "security": _security(op),
        "responses": responses,
    }
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": op.body}}}
    return out


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every /api/* route."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Contact Gateway HTTP API",
            "version": "1",
            "description": "The operator console's, the supervisor's and the admins' HTTP API. "
            "Errors are JSON objects with `error` (a code) and `reason` (for people). "
            "Authenticate with a bearer token (`POST /api/tokens`) or the session cookie of "
            "`POST /api/login`; with the cookie, every request that changes something needs "
            "the `X-CSRF-Token` header. The operator socket (`/ws/operator`) and the web chat "
            "socket (`/ws/webchat`) are described in docs/protocol.md.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "cg_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
        },
    }


# --- serving --------------------------------------------------------------------------------

OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)


async def serve(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type=JSON)


def add_routes(app: web.Application) -> None:
    app[OPENAPI_DOCUMENT] = json.dumps(document()).encode()
    app.router.add_get("/api/openapi.json", serve)


# --- docs/api.md ----------------------------------------------------------------------------


def _type(schema: Schema) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return str(kind or "any")


def _answer(code: str, response: Schema) -> str:
    if code.startswith("2"):
        content = response.get("content")
        if not content:
            return f"{code} (no body)"
        return f"{code} ({_type(next(iter(content.values()))['schema'])})"
    return f"{code} ({response['description'].split(':')[0].rstrip('.')})"


def markdown(doc: dict[str, Any]) -> str:
    """docs/api.md: the document for people, grouped by tag."""
    lines = [
        "# HTTP API",
        "",
        "<!-- Generated by `python -m gateway.openapi --markdown > docs/api.md`; do not edit. -->",
        "",
        doc["info"]["description"],
        "",
        "The machine-readable document is served at `GET /api/openapi.json` (OpenAPI 3.1).",
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, Schema]]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append((method, path, op))
    for tag, ops in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, op in ops:
            lines += [f"### `{method.upper()} {path}`", "", op["summary"], op["description"], ""]
            if op["parameters"]:
                lines += ["| parameter | in | type | required |", "| --- | --- | --- | --- |"]
                for p in op["parameters"]:
                    required = "yes" if p["required"] else "no"
                    lines.append(
                        f"| `{p['name']}` | {p['in']} | {_type(p['schema'])} | {required} |"
                    )
                lines.append("")
            body = op.get("requestBody", {}).get("content", {}).get(JSON, {}).get("schema")
            if body is not None:
                required_fields = set(body.get("required", []))
                lines += ["| body field | type | required |", "| --- | --- | --- |"]
                for name, schema in body.get("properties", {}).items():
                    required = "yes" if name in required_fields else "no"
                    lines.append(f"| `{name}` | {_type(schema)} | {required} |")
                lines.append("")
            answers = ", ".join(_answer(code, r) for code, r in op["responses"].items())
            lines += [f"Answers: {answers}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the HTTP API description.")
    parser.add_argument("--markdown", action="store_true", help="docs/api.md instead of JSON")
    args = parser.parse_args(argv)
    doc = document()
    sys.stdout.write(markdown(doc) if args.markdown else json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
