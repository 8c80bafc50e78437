"""Text made safe for where it goes: spreadsheet cells and terminals.

File names and DICOM fields are user data: a cell starting with ``=`` runs as a formula in
a spreadsheet, and an escape sequence in a printed file name drives the terminal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: A cell starting with one of these is read as a formula by Excel, LibreOffice and Sheets
#: (OWASP, "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def csv_cell(value: object) -> object:
    """``value``, with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot run as formulas.

    Numeric columns are left alone (a negative number is a number, not a formula); text
    columns get :func:`csv_cell` on every value.
    """
    import pandas as pd  # here, so printable() stays cheap to import for the CLI

    out = frame.rename(columns=lambda c: csv_cell(c) if isinstance(c, str) else c)
    for column in out.columns[[not pd.api.types.is_numeric_dtype(t) for t in out.dtypes]]:
        out[column] = out[column].map(csv_cell)
    return out


def printable_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with its text cells and column names escaped (:func:`printable`)."""
    return table.rename(columns=_printable_text).map(_printable_text)


def _printable_text(value: object) -> object:
    return printable(value) if isinstance(value, str) else value


def printable(text: object) -> str:
    """``text`` with control characters and undecodable bytes shown as escapes.

    For printing file names: ``\\x1b[2J`` cannot clear the screen, a newline cannot forge a
    line of output, and a name with non-UTF-8 bytes (surrogate-escaped by ``os.fsdecode``)
    prints as ``\\udcff`` instead of raising ``UnicodeEncodeError``.
    """
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
