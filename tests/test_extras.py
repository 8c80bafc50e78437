"""The core install: core modules import without the extras; extras' modules name the extra."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fmood._extras import MissingExtraError, missing_extra

# Import names the extras bring, hidden from the subprocess by a finder that refuses them.
HIDDEN = (
    "torch",
    "torchvision",
    "transformers",
    "open_clip",
    "timm",
    "pydicom",
    "nibabel",
    "PIL",
    "matplotlib",
    "jinja2",
    "nilearn",
    "torchio",
    "skimage",
)
HIDE = f"""import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {HIDDEN!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Hide())
"""


def run_without_extras(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", HIDE + code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_core_modules_import_without_the_extras():
    done = run_without_extras(
        "import fmood.cli.main, fmood.store, fmood.scorers, fmood.calibration.detector\n"
        "import fmood.distances, fmood.metrics, fmood.io.arrays, fmood.workflows.neighbors\n"
        "print('ok')"
    )
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("fmood.backbones", "models"),
        ("fmood.embed", "models"),
        ("fmood.report", "report"),
    ],
)
def test_a_module_that_needs_an_extra_names_it(module, extra):
    done = run_without_extras(
        f"from fmood._extras import MissingExtraError\n"
        f"try:\n    import {module}\nexcept MissingExtraError as err:\n    print(err)"
    )
    assert f"pip install 'fmood[{extra}]'" in done.stdout, done.stderr


def test_reading_an_image_names_the_medical_extra(tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(b"not read")
    done = run_without_extras(
        f"from fmood._extras import MissingExtraError\nfrom fmood.io import read_image\n"
        f"try:\n    read_image({str(image)!r})\nexcept MissingExtraError as err:\n    print(err)"
    )
    assert "pip install 'fmood[medical]'" in done.stdout, done.stderr


def test_an_import_error_of_anything_else_is_kept():
    err = ModuleNotFoundError("No module named 'fmood.nothing'", name="fmood.nothing")
    assert missing_extra(err, "x") is err
    assert isinstance(missing_extra(ModuleNotFoundError(name="torch.nn"), "x"), MissingExtraError)
