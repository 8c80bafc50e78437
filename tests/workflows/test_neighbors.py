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
    embed_dataset(backbones.load("efficientnet-lite0", device="cpu"), root / "ref", root / "store",
                  progress=False, num_workers=0)
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
    assert "chest.png: degree" in text and "flagged at 5% FDR yes" in text
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
