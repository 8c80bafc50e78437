import pandas as pd

from fmood.sanitize import csv_cell, csv_safe, printable, printable_table


def test_formula_cells_are_quoted_and_numbers_kept():
    frame = pd.DataFrame(
        {
            "path": ['=HYPERLINK("http://x")', "+1", "-cmd", "@SUM(A1)", "\tx", "plain.png"],
            "score": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    safe = csv_safe(frame)
    assert safe["path"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "'+1",
        "'-cmd",
        "'@SUM(A1)",
        "'\tx",
        "plain.png",
    ]
    assert safe["score"].tolist() == frame["score"].tolist()
    assert frame["path"][0].startswith("=")  # the input is not changed


def test_formula_column_names_are_quoted():
    assert list(csv_safe(pd.DataFrame({"=bad": [1]})).columns) == ["'=bad"]
    assert csv_cell(3) == 3


def test_printable_escapes_control_characters_and_bad_bytes():
    assert printable("a\x1b[2Jb\nc") == "a\\x1b[2Jb\\nc"
    name = b"scan\xff.png".decode("utf-8", "surrogateescape")
    shown = printable(name)
    shown.encode("utf-8")  # would raise on a lone surrogate
    assert shown == "scan\\udcff.png"
    assert printable("ünïcode.png") == "ünïcode.png"


def test_printable_table_escapes_text_cells_and_names_only():
    table = pd.DataFrame({"path\x1b": ["a\x1b[2J.png", "b.png"], "degree": [0.5, 1.0]})
    shown = printable_table(table)
    assert list(shown.columns) == ["path\\x1b", "degree"]
    assert shown.iloc[0, 0] == "a\\x1b[2J.png" and shown["degree"].tolist() == [0.5, 1.0]
