import pytest

from fmood import backbones
from fmood.embed import embed_dataset
from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.store import FeatureStore
from fmood.workflows import backbone_of_store, is_store, store_for


@pytest.fixture(scope="module")
def lite0():
    return backbones.load("efficientnet-lite0", device="cpu")


def test_images_are_embedded_once_into_the_store_root(tmp_path, image_folders, lite0):
    store = store_for(image_folders["reference"], lite0, store_root=tmp_path, progress=False)
    assert is_store(store.path) and store.path.parent == tmp_path
    assert len(store) == 40 and store.fingerprint == lite0.fingerprint
    again = store_for(image_folders["reference"], lite0, store_root=tmp_path, progress=False)
    assert again.path == store.path and len(again) == 40
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [store.path.name]


def test_a_store_is_used_as_is_and_checked(tmp_path, image_folders, lite0):
    made = store_for(image_folders["reference"], lite0, store_root=tmp_path, progress=False)
    assert store_for(made.path, None).path == made.path
    other = backbones.load("efficientnet-lite0", device="cpu", layers=[4])
    with pytest.raises(StoreMismatchError, match="not from efficientnet-lite0"):
        store_for(made.path, other)


def test_images_without_a_backbone_are_refused(image_folders):
    with pytest.raises(InvalidInputError, match="name a backbone"):
        store_for(image_folders["reference"], None)


def test_backbone_of_store_rebuilds_options_and_checks_weights(tmp_path, image_folders):
    layered = backbones.load("efficientnet-lite0", device="cpu", layers=[4, 10])
    embed_dataset(
        layered, image_folders["reference"], tmp_path / "s", progress=False, num_workers=0
    )
    rebuilt = backbone_of_store(FeatureStore.open(tmp_path / "s"), device="cpu")
    assert rebuilt.fingerprint == layered.fingerprint

    random = backbones.load("efficientnet-lite0", device="cpu", pretrained=False)
    embed_dataset(random, image_folders["reference"], tmp_path / "r", progress=False, num_workers=0)
    with pytest.raises(StoreMismatchError, match="--weights"):
        backbone_of_store(FeatureStore.open(tmp_path / "r"), device="cpu")
