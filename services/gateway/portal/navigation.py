"""What each role finds in the portal's menu, in order; the first entry is the role's home page."""

from __future__ import annotations

from canopy.roles import Role

# (label, endpoint) per role; entries whose endpoint is not registered are left out of the menu.
MENU: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.AI_DEVELOPER: (("Models", "portal_models.list_models"),),
    Role.APP_DEVELOPER: (
        ("Apps", "portal_apps.list_apps"),
        ("Instances", "portal_apps.list_instances"),
    ),
    Role.PLATFORM_ADMIN: (
        ("Devices", "portal_devices.tree"),
        ("Device types", "portal_devices.list_types"),
        ("Nodes", "portal_nodes.list_nodes"),
        ("Models", "portal_models.list_models"),
        ("Apps", "portal_apps.list_apps"),
        ("Instances", "portal_apps.list_instances"),
        ("Users", "portal_admin.list_users"),
        ("Services", "portal_admin.services"),
    ),
    Role.END_USER: (
        ("Catalogue", "portal_catalog.browse"),
        ("My apps", "portal_catalog.my_instances"),
    ),
}
