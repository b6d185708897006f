"""`gateway plugin new` refuses a name whose tables or GraphQL names an installed plugin defines already
(desk_im's table desk_im_credit_accounts and type ImCreditAccount): the gateway would not start with both."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema.scaffold import TEMPLATE, Names, ScaffoldError, check_name, create_plugin, taken_names


@pytest.mark.parametrize(("name", "clash"), [
    ("desk_im_credit", "table desk_im_credit_accounts"), ("im_credit", "type ImCreditAccount"),
])
def test_a_name_whose_table_or_type_an_installed_plugin_defines_is_refused(name: str, clash: str) -> None:
    taken = taken_names()
    assert clash in taken
    with pytest.raises(ScaffoldError, match=f"would define {clash}, which an installed plugin defines already"):
        check_name(name, installed=["core", "desk_im"], declared={}, taken=taken)
    assert check_name("backup", installed=["core"], declared={}, taken=taken).snake == "backup"


def test_the_names_checked_are_the_ones_the_template_defines() -> None:
    text = "\n".join(path.read_text() for path in (TEMPLATE / "my_product").glob("*.py"))
    python_spelling = {"table my_product_accounts": '__tablename__ = "my_product_accounts"',
                       "type MyProductAccount": "class MyProductAccount(Node)",
                       "type SetMyProductStorageInput": "class SetMyProductStorageInput",
                       "type SetMyProductStoragePayload": "class SetMyProductStoragePayload",
                       "Mutation.setMyProductStorage": "def set_my_product_storage(",
                       "Organization.myProductAccount": "def my_product_account("}
    assert list(python_spelling) == Names("my_product").global_names()
    for spelling in python_spelling.values():
        assert spelling in text


def test_a_dangling_symlink_where_the_folder_would_go_is_refused(tmp_path: Path) -> None:
    (tmp_path / "backup").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ScaffoldError, match="exists already"):
        create_plugin("backup", tmp_path, installed=[], declared={}, taken=(), head="cb499db9bb03")
    assert not (tmp_path / "nowhere").exists()
