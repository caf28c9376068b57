"""The network registry: the tasks register their recipes; configs, networks and exports find them by name."""
import pytest

from dcn.modeling.recipes import NETWORKS, load_tasks, recipe_for_symbol, task_modules
from dcn.registry import Registry


def test_registry_refuses_a_name_twice():
    reg = Registry("thing")
    first = reg.register("a", object())
    assert reg.get("a") is first and "a" in reg and reg.register("a", first) is first
    with pytest.raises(KeyError, match="already registered"):
        reg.register("a", object())
    with pytest.raises(KeyError, match="no thing named 'b'"):
        reg.get("b")


@pytest.mark.parametrize("symbol,name", [("resnet_v1_101_rfcn_dcn", "rfcn"), ("resnet_v1_18_class_aware_rpn_dcn", "rfcn"),
                                         ("deform_psroi_demo", "rfcn"), ("resnet_v1_101_deeplab_dcn", "deeplab"),
                                         ("resnet_v1_101_fpn_dcn_rcnn", "fpn"), ("resnet_v1_101_rcnn_dcn", "faster_rcnn"),
                                         ("RESNET_V1_101_FPN_RCNN", "fpn")])
def test_a_symbol_names_one_registered_network(symbol, name):
    assert recipe_for_symbol(symbol).name == name


def test_every_task_registers_when_loaded():
    load_tasks()
    assert set(task_modules()) >= {"rfcn", "fpn", "deeplab"}
    assert set(NETWORKS) >= {"rfcn", "deeplab", "faster_rcnn", "fpn"}
    assert recipe_for_symbol("resnet_v1_101_unknown") is None
