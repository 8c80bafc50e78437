import numpy as np
import pytest
from PIL import Image
from realimages import brain_slices, chest_crops

from fmood import backbones
from fmood.embed import embed_dataset


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("nbr")
    (root / "ref").mkdir()
    for i, pixels in enumerate(brain_slices(40)):
        Image.fromarray((pixels * 255).astype(np.uint8)).save(root / "ref" / f"brain_{i}.png")
    bb = backbones.load("efficientnet-lite0", device="cpu")
    embed_dataset(bb, root / "ref", root / "store", progress=False, num_workers=0)
    return root / "store"


def test_image_query_prints_degree_and_writes_an_escaped_panel(cli, store, tmp_path):
    # "/" cannot be in a file name: the folder "<script>alert(1)<" holds "script>.png".
    image = tmp_path / "<script>alert(1)</script>.png"
    image.parent.mkdir()
    Image.fromarray((chest_crops(1)[0] * 255).astype(np.uint8)).save(image)
    html = tmp_path / "panel.html"
    result = cli(
        "neighbors",
        "--store",
        store,
        "--image",
        image,
        "-k",
        "3",
        "--html",
        html,
        "--device",
        "cpu",
    )
    assert result.code == 0, result.err
    assert "degree" in result.out and "flagged at 5% FDR yes" in result.out
    assert result.out.count("brain_") == 3
    assert "surprise " in result.out and "p-value 0" not in result.out
    assert result.out.splitlines()[-1] == f"wrote html: {html}"
    page = html.read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;.png" in page
    assert page.count('src="data:image/png;base64,') == 4  # the query and its 3 neighbours


def test_a_brain_slice_is_not_flagged(cli, store, tmp_path):
    image = tmp_path / "brain.png"
    Image.fromarray((brain_slices(41)[20] * 255).astype(np.uint8)).save(image)
    result = cli("neighbors", "--store", store, "--image", image, "-k", "2", "--device", "cpu")
    assert result.code == 0, result.err
    assert "flagged at 5% FDR no" in result.out


def test_errors(cli, store, tmp_path):
    result = cli("neighbors", "--store", store, "--image", tmp_path / "none.png")
    assert result.code == 2 and "no such file" in result.err
    result = cli("neighbors", "--store", store, "--query", tmp_path / "q.npy", "--html", "x.html")
    assert result.code == 2 and "go with --image" in result.err
    other = tmp_path / "other"
    random = backbones.load("efficientnet-lite0", device="cpu", pretrained=False)
    (tmp_path / "img").mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "img" / "a.png")
    embed_dataset(random, tmp_path / "img", other, progress=False, num_workers=0)
    result = cli(
        "neighbors", "--store", other, "--image", tmp_path / "img" / "a.png", "--device", "cpu"
    )
    assert result.code == 2 and "--weights" in result.err
