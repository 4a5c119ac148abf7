"""Central logs and dead letters: GET /api/v1/logs (each user their own workloads') and /deadletters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from canopy.apps.instances import get_instance
from canopy.errors import Forbidden, NotFound
from canopy.logs.query import LogQuery, find_lines, line_view, parse_query, recent_dead_letters
from canopy.models.repository import resolve_model
from canopy.roles import Role
from services.gateway.access import allow, current_principal
from services.gateway.accounts import Principal
from services.gateway.context import gateway_context
from services.gateway.ownership import owner_scope, require_instance_runner, require_model_manager

blueprint = Blueprint("logs", __name__, url_prefix="/api/v1")
LOG_READERS = (Role.AI_DEVELOPER, Role.APP_DEVELOPER, Role.PLATFORM_ADMIN)
MAX_DEAD_LETTERS = 500


def scoped_query(session: Session, principal: Principal, query: LogQuery) -> LogQuery:
    """The query with its model resolved to an id; Forbidden for objects or lines the caller may not read."""
    if principal.role is not Role.PLATFORM_ADMIN and (query.service or query.node):
        raise Forbidden(
            "service and node lines are read by platform_admin only; filter by your model or app instance"
        )
    admin = principal.role is Role.PLATFORM_ADMIN
    if query.model:
        try:
            model = resolve_model(session, query.model, principal.user_id)
        except NotFound:
            if admin:  # the lines of a removed model stay readable until retention drops them
                return query
            raise
        require_model_manager(principal, model, "read the logs of")
        query = dataclasses.replace(query, model=model.id)
    if query.app_instance and not admin:
        require_instance_runner(principal, get_instance(session, query.app_instance), "read the logs of")
    return query


def read_logs(principal: Principal, args: dict[str, str]) -> dict[str, object]:
    """The records `args` select that the caller may read, oldest first, and the id to follow from."""
    query = parse_query(args, datetime.now(UTC))
    with gateway_context().backends.store.session() as session:
        query = scoped_query(session, principal, query)
        lines = find_lines(session, query, owner_scope(principal))
        records = [line_view(line) for line in lines]
    return {"records": records, "last_id": lines[-1].id if lines else query.after or 0}


@blueprint.get("/logs")
@allow(*LOG_READERS)
def list_logs() -> Response:
    """Log records by model, app_instance, service, node, level (minimum), since, grep, after, limit."""
    return jsonify(read_logs(current_principal(), request.args.to_dict()))


@blueprint.get("/deadletters")
@allow(Role.PLATFORM_ADMIN)
def list_dead_letters() -> Response:
    """The newest dead letters (limit, default 100), with reason, source topic, group and a preview."""
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), MAX_DEAD_LETTERS)
    with gateway_context().backends.store.session() as session:
        return jsonify({"dead_letters": recent_dead_letters(session, limit)})
