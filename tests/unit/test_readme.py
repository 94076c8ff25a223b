"""The README's configuration table is the settings object: same names, same defaults."""

from __future__ import annotations

import re
from pathlib import Path

from handrail.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_with_its_default():
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| (.+?) \|", README.read_text(), flags=re.MULTILINE))
    for name, field in Settings.model_fields.items():
        assert name.upper() in rows, f"{name.upper()} is missing from the README configuration table"
        default = field.default_factory() if field.default_factory else field.default
        shown = rows[name.upper()]
        if default is None:
            assert shown == "unset", name
        else:
            assert str(default).replace("'", '"') in shown, f"{name.upper()}: README says {shown}, code says {default}"
    assert set(rows) <= {n.upper() for n in Settings.model_fields}, "the README lists a setting that does not exist"


def test_the_quickstart_gives_the_two_commands_first():
    head = README.read_text()[:800]
    assert "make run" in head and "make test" in head
