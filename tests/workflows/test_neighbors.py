import numpy as np
import pytest
from PIL import Image
from realimages import brain_slices, chest_crops

from fmood import backbones
from fmood.calibration.detector import OODDetector
from fmood.embed import embed_dataset
from fmood.store import FeatureStore
from fmood.workflows import explain_image


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    (root / "ref").mkdir()
    for i, pixels in enumerate(brain_slices(40)):
        Image.fromarray((pixels * 255).astype(np.uint8)).save(root / "ref" / f"brain_{i}.png")
    embed_dataset(
        backbones.load("efficientnet-lite0", device="cpu"),
        root / "ref",
        root / "store",
        progress=False,
        num_workers=0,
    )
    return root / "store"


def _png(path, pixels):
    Image.fromarray((pixels * 255).astype(np.uint8)).save(path)
    return path


def test_a_chest_crop_is_flagged_and_its_neighbours_are_listed(store, tmp_path):
    image = _png(tmp_path / "chest.png", chest_crops(1)[0])
    result = explain_image(store, image, k=3, device="cpu")
    assert result.frames == [None]
    assert bool(result.assessment["flagged"].iloc[0]) and result.assessment["degree"].iloc[0] > 0.95
    assert len(result.neighbors) == 3 and result.neighbors["path"].str.contains("brain_").all()
    assert np.all(np.diff(result.neighbors["distance"]) >= 0)
    text = str(result)
    assert "chest.png:\n  degree" in text and "flagged at 5% FDR yes" in text
    page = result.write_html(tmp_path / "panel.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4


def test_a_given_detector_is_used(store, tmp_path):
    opened = FeatureStore.open(store)
    detector = OODDetector(scorers=[("knn", {"k": 5})]).fit(opened.embeddings)
    image = _png(tmp_path / "brain.png", brain_slices(41)[20])
    result = explain_image(opened, image, k=2, detector=detector, device="cpu")
    assert "knn" in result.assessment.columns and "mahalanobis" not in result.assessment.columns
    assert not bool(result.assessment["flagged"].iloc[0])


def test_a_missing_image_fails_before_the_model_loads(store, tmp_path):
    with pytest.raises(FileNotFoundError, match="none.png: no such file"):
        explain_image(store, tmp_path / "none.png")


def test_surprise_never_reads_p_value_zero():
    # issue 12: `fmood neighbors --image` printed "p-value 0".
    from fmood.workflows.neighbors import surprise_text

    assert surprise_text(0.0) == "> 300 (p < 1e-300)"
    assert surprise_text(1e-5) == "5.0 (p = 1e-05)"
    assert surprise_text(0.5) == "0.3 (p = 0.5)"


def test_compact_table_fits_100_characters_and_drops_the_hash():
    # issue 12: neighbour lines were 346 characters wide with a 64-character hash.
    import pandas as pd

    from fmood.workflows.neighbors import compact_table

    folder = "/data/hospital/" + "very_long_folder_name/" * 3
    table = pd.DataFrame(
        {
            "rank": [1, 2, 3],
            "id": [10, 20, 30],
            "distance": [0.5, 0.75, 1.0],
            "path": [f"{folder}patient_{i}/slice_{i:03d}.png" for i in range(3)],
            "frame": [None] * 3,
            "file_sha256": ["ab" * 32] * 3,
            "patient": ["p0", "p1", "p2"],
            "site": ["A"] * 3,
            **{f"field_{j}": [f"value {j} " * 3 + str(i) for i in range(3)] for j in range(12)},
        }
    )
    text = compact_table(table)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100
    assert "ab" * 32 not in text and "frame" not in text
    assert lines[0] == f"paths under {folder.rstrip('/')}"
    assert lines[1] == "all: site=A"
    assert "10 more column(s) in --csv: field_2, field_3" in text
    header = next(line for line in lines if line.lstrip().startswith("rank"))
    assert header.split()[:5] == ["rank", "id", "distance", "path", "patient"]
    assert "patient_0/slice_000.png" in text
