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
        ("dq_init_file", "dqmask.dq_init.files"),
        ("make_static_masks", "dqmask.static.files"),
        ("prepare_file", "dqmask.dolphot.files"),
        ("make_background", "dqmask.nsclean.files"),
        ("apply_to_file", "dqmask.apply.files"),
        ("combine_files", "dqmask.toolbox.files"),
    ],
)
def test_api_is_the_step_function_not_a_copy(name, module):
    assert getattr(api, name) is getattr(importlib.import_module(module), name)


def test_api_classify_and_flags_round_trip(tmp_path):
    assert api.parse_flags("DO_NOT_USE+OTHER_BAD_PIXEL") == 1073741825
    assert api.decode(1073741825) == ["DO_NOT_USE", "OTHER_BAD_PIXEL"]
