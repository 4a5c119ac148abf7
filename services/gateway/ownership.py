"""Who may act on which object: the one place for the owner, device, model and app-instance rules.

Refusals are 403 with a reason rather than 404: the model catalog is readable by every signed-in user
(anyone may call a model by `owner/name`), so hiding a model's existence from a caller who may not
manage it would hide nothing, and the reason tells the caller what to do instead.
"""

from __future__ import annotations

from canopy.apps.records import AppInstance, AppRecord
from canopy.errors import Forbidden
from canopy.models import ModelRecord
from canopy.roles import Role
from canopy.store.models import User
from services.gateway.accounts import Principal


def may_manage(principal: Principal, owner_id: int | None) -> bool:
    """Whether the caller may change an object owned by `owner_id` (its owner, or any platform_admin).

    A workload acts for its instance's user but never manages that user's objects.
    """
    if principal.role is Role.WORKLOAD:
        return False
    return principal.role is Role.PLATFORM_ADMIN or (owner_id is not None and owner_id == principal.user_id)


def owner_scope(principal: Principal) -> int | None:
    """The owner whose objects the caller's lists show: the caller's own id, or None (all) for an admin."""
    return None if principal.role is Role.PLATFORM_ADMIN else principal.user_id


def _require_manager(
    principal: Principal, owner_id: int | None, owner: User | None, what: str, action: str
) -> None:
    """Forbidden unless the caller may manage an object owned by `owner_id`; `what` names the object."""
    if not may_manage(principal, owner_id):
        owned_by = owner.name if owner else "a removed user"
        raise Forbidden(f"{what} belongs to {owned_by}; only its owner or a platform_admin may {action} it")


def require_model_manager(principal: Principal, record: ModelRecord, action: str) -> None:
    """Forbidden unless the caller owns the model or is a platform_admin."""
    _require_manager(principal, record.owner_id, record.owner, f"model {record.id} ({record.name})", action)


def require_app_manager(principal: Principal, record: AppRecord, action: str) -> None:
    """Forbidden unless the caller owns the app or is a platform_admin."""
    _require_manager(principal, record.owner_id, record.owner, f"app {record.id} ({record.name})", action)


def may_use_device(principal: Principal, device_id: str, *, command: bool = False) -> bool:
    """Whether the caller may read and stream (or, with `command`, command) device `device_id` directly.

    A platform_admin may use any device; an app instance's workload reads exactly the devices bound
    to it and commands exactly the controllers bound to it. End users and developers reach devices
    only through such workloads.
    """
    if principal.role is Role.PLATFORM_ADMIN:
        return True
    if principal.role is not Role.WORKLOAD or device_id not in principal.devices:
        return False
    return not command or principal.devices[device_id] == "controller"


def require_device_user(principal: Principal, device_id: str, *, command: bool = False) -> None:
    """Forbidden unless the caller may use the device; checked before the device is looked up."""
    if may_use_device(principal, device_id, command=command):
        return
    if principal.role is Role.WORKLOAD:
        bound = "a sensor" if device_id in principal.devices else "not"
        raise Forbidden(
            f"device {device_id} is {bound} bound to app instance {principal.instance_id}; an instance "
            "reads only its bound devices and commands only its bound controllers"
        )
    raise Forbidden(
        f"role {principal.role.value} has no direct access to devices; devices are read and "
        "commanded by a platform_admin or by the workloads they are bound to"
    )


def require_model_user(principal: Principal, ref: str) -> None:
    """Forbidden for a workload unless `ref` is the id of a model its app declared (checked before lookup).

    Users may resolve any model's endpoints (model_call is how apps use other owners' models).
    """
    if principal.role is Role.WORKLOAD and ref not in principal.models:
        raise Forbidden(
            f"model {ref} is not declared by the app of instance {principal.instance_id}; an instance "
            "calls only its declared models, by the ids GET /api/v1/app-instances/self lists"
        )


def may_see_instance(principal: Principal, owner_id: int | None, app_owner_id: int | None) -> bool:
    """Whether the caller runs the instance, developed its app (a person, not a workload), or is an admin."""
    developer = principal.role is not Role.WORKLOAD and app_owner_id is not None
    return may_manage(principal, owner_id) or (developer and app_owner_id == principal.user_id)


def require_instance_viewer(principal: Principal, owner_id: int | None, app_owner_id: int | None) -> None:
    """Forbidden unless the caller runs the instance, developed its app, or is a platform_admin."""
    if not may_see_instance(principal, owner_id, app_owner_id):
        raise Forbidden("only the instance's user, its app's developer or a platform_admin may see it")


def require_instance_runner(principal: Principal, instance: AppInstance, action: str) -> None:
    """Forbidden unless the caller owns the instance, developed its app, or is a platform_admin."""
    if not may_see_instance(principal, instance.owner_id, instance.app.owner_id):
        raise Forbidden(
            f"app instance {instance.id} belongs to another user; only its owner, the app's developer "
            f"or a platform_admin may {action} it"
        )


def require_instance_manager(principal: Principal, owner_id: int | None) -> None:
    """Forbidden unless the caller runs the instance or is a platform_admin."""
    if not may_manage(principal, owner_id):
        raise Forbidden("only the instance's user or a platform_admin may remove it")


def require_page_viewer(principal: Principal, instance: AppInstance) -> None:
    """Forbidden unless the caller is the user the instance runs for (its owner) or a platform_admin."""
    if not may_manage(principal, instance.owner_id):
        raise Forbidden(
            f"the page of app instance {instance.id} is open only to the user it runs for and to "
            "platform_admin"
        )
