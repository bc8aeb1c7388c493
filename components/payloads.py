"""Statuspage's JSON objects of components and groups, v2 and v1 (reference §1.4, §2.3).

Key order follows real payloads; timestamps are UTC. Built from rows the caller loaded: no queries.
"""

from statuspage.formats import iso_date, iso_ms, iso_s

from .models import Component, ComponentGroup, ComponentStatus


def component_v2(component: Component) -> dict:
    return {
        "id": component.pk,
        "name": component.name,
        "status": component.status,
        "created_at": iso_ms(component.created_at),
        "updated_at": iso_ms(component.updated_at),
        "position": component.position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": iso_date(component.start_date),
        "group_id": component.group_id,
        "page_id": component.page_id,
        "group": False,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def group_v2(group: ComponentGroup, children: list[Component]) -> dict:
    """A group is a component object with `group: true` and its children's ids; its status is the worst child's."""
    status = max(
        (c.status for c in children), key=lambda s: ComponentStatus(s).severity, default=ComponentStatus.OPERATIONAL
    )
    return {
        "id": group.pk,
        "name": group.name,
        "status": status,
        "created_at": iso_ms(group.created_at),
        "updated_at": iso_ms(max([group.updated_at, *(c.updated_at for c in children)])),
        "position": group.position,
        "description": group.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": group.page_id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.pk for c in children],
    }


def components_v2(groups: list[ComponentGroup], components: list[Component]) -> list[dict]:
    """All components flat, in page order: each top-level item, a group followed by its children."""
    children: dict[str, list[Component]] = {g.pk: [] for g in groups}
    top: list[tuple[int, int, Component | ComponentGroup]] = []
    for component in components:
        if component.group_id in children:
            children[component.group_id].append(component)
        else:
            top.append((component.position, 1, component))
    top.extend((g.position, 0, g) for g in groups)
    out = []
    for _, _, item in sorted(top, key=lambda t: (t[0], t[1], t[2].created_at)):
        if isinstance(item, ComponentGroup):
            kids = sorted(children[item.pk], key=lambda c: (c.position, c.created_at))
            out.append(group_v2(item, kids))
            out.extend(component_v2(c) for c in kids)
        else:
            out.append(component_v2(item))
    return out


def component_v1(component: Component) -> dict:
    return {
        **component_v2(component),
        "created_at": iso_s(component.created_at),
        "updated_at": iso_s(component.updated_at),
        "automation_email": None,
    }
