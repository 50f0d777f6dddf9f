"""Mutation helpers shared by the fuzz tests."""

from __future__ import annotations

import copy
import random


def replace_random_node(rng: random.Random, doc, values: list, *, descend: float = 0.8) -> None:
    """Walk down a parsed JSON document at random and replace the node reached.

    At each level the walk goes one step deeper with probability ``descend``; the node
    where it stops is replaced by a deep copy of one of ``values`` (so that no value is
    shared between places, nor inserted into itself).
    """
    node, path = doc, []
    while isinstance(node, (dict, list)) and node and rng.random() < descend:
        key = rng.choice(list(node.keys())) if isinstance(node, dict) else rng.randrange(len(node))
        path.append((node, key))
        node = node[key]
    if path:
        parent, key = path[-1]
        parent[key] = copy.deepcopy(rng.choice(values))
