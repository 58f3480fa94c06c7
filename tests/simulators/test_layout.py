"""No import cycles inside simulators, function-level imports included (grimp sees them)."""

from __future__ import annotations

import itertools

import grimp


def test_no_import_cycles_inside_simulators() -> None:
    graph = grimp.build_graph("simulators")
    cycles = [
        (a, b)
        for a, b in itertools.combinations(sorted(graph.modules), 2)
        if graph.find_shortest_chain(importer=a, imported=b)
        and graph.find_shortest_chain(importer=b, imported=a)
    ]
    assert cycles == []
