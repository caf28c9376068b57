"""Network recipes: what the core needs to know of a task's network, registered by the task itself.

Each task package (``rfcn``, ``fpn``, ``deeplab``) registers one
:class:`NetworkRecipe` per network when it is imported: how a config names it
(``cfg.symbol``), how to build it, its classes, its spec type (exports'
``meta.json``) and its checkpoint mapping table. ``dcn.checkpoint`` and
``dcn.export`` look recipes up here and never import a task.

Entry points that start from a config or an export (``python -m dcn.checkpoint``,
``ImportedRFCN``) call :func:`load_tasks`, which imports the task modules named
by the ``dcn.tasks`` entry-point group of the installed distribution (see
pyproject.toml), or :data:`FALLBACK_TASK_MODULES` where the install predates
that group.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Callable, Optional, Tuple

from dcn.registry import Registry

if TYPE_CHECKING:  # dcn.checkpoint imports this module: no import back at run time
    from dcn.checkpoint.tables import NetworkTable

ENTRY_POINT_GROUP = "dcn.tasks"
# the modules of pyproject.toml's [project.entry-points."dcn.tasks"], for an install without that metadata
FALLBACK_TASK_MODULES = ("rfcn", "fpn", "deeplab")


@dataclass(frozen=True)
class NetworkRecipe:
    """One network of a task, as the core sees it."""
    name: str                                  # network kind: meta.json "network", mapping table, CLI messages
    recognises: Callable[[str], bool]          # lower-cased cfg.symbol -> is it this network
    build: Callable[[object], object]          # Config -> the network (uninitialised, not hybridised)
    network_types: Tuple[type, ...]            # instances of these are this network (network_kind)
    spec_type: type                            # the spec dataclass (rebuilt from an export's meta.json)
    table: NetworkTable                        # original MSRA layer names -> ours (dcn.checkpoint.tables)
    order: int = 100                           # recognition order: lower first ('fpn_rcnn' is FPN, not R-CNN)


NETWORKS: Registry[NetworkRecipe] = Registry("network recipe")


def register_network(recipe: NetworkRecipe) -> NetworkRecipe:
    return NETWORKS.register(recipe.name, recipe)


def task_modules() -> Tuple[str, ...]:
    """Module names of the installed tasks (entry points ``dcn.tasks``), else the fallback list."""
    found = tuple(ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    return found or FALLBACK_TASK_MODULES


def load_tasks() -> None:
    """Import every task module, so that each registers its networks (idempotent; a missing task is skipped)."""
    for module in task_modules():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module.split(".")[0]:  # a task that is there but fails to import is a real error
                raise


def recipes_in_order() -> Tuple[NetworkRecipe, ...]:
    return tuple(sorted((r for _, r in NETWORKS.items()), key=lambda r: r.order))


def recipe_for_symbol(symbol: str) -> Optional[NetworkRecipe]:
    """The recipe whose network a config ``symbol`` names (tasks loaded first); None if none does."""
    load_tasks()
    symbol = symbol.lower()
    return next((r for r in recipes_in_order() if r.recognises(symbol)), None)


def recipe_for_net(net) -> Optional[NetworkRecipe]:
    """The recipe of a built network (its task is imported, so registered, since its class exists)."""
    return NETWORKS.find(lambda r: isinstance(net, r.network_types))


def network_recipe(name: str) -> NetworkRecipe:
    """The recipe registered as ``name`` ('rfcn', 'fpn' ...), tasks loaded first."""
    load_tasks()
    return NETWORKS.get(name)
