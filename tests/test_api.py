"""The public API module exposes the same functions the commands use."""

import importlib

import pytest

from dqmask import api


@pytest.mark.parametrize("name", api.__all__)
def test_every_api_name_resolves(name):
    assert getattr(api, name) is not None


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("dq_init_file", "dqmask.steps.dq_init"),
        ("make_static_masks", "dqmask.steps.static_mask"),
        ("prepare_file", "dqmask.steps.dolphot"),
        ("make_background", "dqmask.steps.background"),
        ("apply_to_file", "dqmask.steps.apply"),
        ("combine_files", "dqmask.steps.toolbox"),
    ],
)
def test_api_is_the_step_function_not_a_copy(name, module):
    assert getattr(api, name) is getattr(importlib.import_module(module), name)


def test_api_classify_and_flags_round_trip(tmp_path):
    assert api.parse_flags("DO_NOT_USE+OTHER_BAD_PIXEL") == 1073741825
    assert api.decode(1073741825) == ["DO_NOT_USE", "OTHER_BAD_PIXEL"]
