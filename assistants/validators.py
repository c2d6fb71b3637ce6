from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from burki.text import unstorable_paths

MAX_FLOW_NODES = 1000
MAX_FLOW_EDGES = 5000


def validate_storable(value: Any) -> None:
    # The API refuses such text as it parses a body; the admin's JSON fields (and any other form) get here first.
    paths = unstorable_paths(value)
    if paths:
        raise ValidationError(f"A NUL character or an invalid Unicode surrogate in {', '.join(paths) or 'the value'}.")


def validate_json_object(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Must be a JSON object.")
    validate_storable(value)


def flow_definition_problems(definition: Any) -> list[str]:
    """Every problem with a flow definition, each naming exactly what is wrong; empty when valid.

    Only the graph's shape is ours to check; any other key belongs to the flow runtime and is kept as given.
    """
    if not isinstance(definition, dict):
        return ["The definition must be a JSON object with 'nodes' and 'edges'."]
    nodes, edges = definition.get("nodes"), definition.get("edges", [])
    if not isinstance(nodes, list) or not nodes:
        return ["'nodes' must be a non-empty list."]
    if not isinstance(edges, list):
        return ["'edges' must be a list."]
    if len(nodes) > MAX_FLOW_NODES or len(edges) > MAX_FLOW_EDGES:
        return [f"At most {MAX_FLOW_NODES} nodes and {MAX_FLOW_EDGES} edges."]

    problems: list[str] = []
    ids: set[str] = set()
    starts = 0
    for index, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("id"), str) or not node["id"]:
            problems.append(f"Node {index} must be an object with a non-empty string 'id'.")
            continue
        if not isinstance(node.get("type"), str) or not node["type"]:
            problems.append(f"Node '{node['id']}' must have a string 'type'.")
        if node["id"] in ids:
            problems.append(f"Duplicate node id '{node['id']}'.")
        ids.add(node["id"])
        if node.get("type") == "start":
            starts += 1
    if starts == 0:
        problems.append("Missing start node: exactly one node must have type 'start'.")
    elif starts > 1:
        problems.append(f"{starts} start nodes: exactly one node must have type 'start'.")

    for index, edge in enumerate(edges):
        if not isinstance(edge, dict):
            problems.append(f"Edge {index} must be an object with 'from' and 'to'.")
            continue
        for end in ("from", "to"):
            target = edge.get(end)
            if not isinstance(target, str):
                problems.append(f"Edge {index} must have a string '{end}'.")
            elif target not in ids:
                problems.append(f"Edge {index} '{end}' refers to unknown node id '{target}'.")
    return problems


def validate_flow_definition(definition: Any) -> None:
    problems = flow_definition_problems(definition)
    if problems:
        raise ValidationError(problems)
    validate_storable(definition)
