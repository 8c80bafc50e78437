"""embed_dataset end to end on small real files, against an independent read-and-embed."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from embed.helpers import BAD, FRAMES, CrashingBackbone, make_folder, n_frames, tiny_backbone
from PIL import Image as PILImage

from fmood.backbones import ModuleBackbone, Preprocessing
from fmood.embed import EmbedSummary, default_failures_path, embed_dataset
from fmood.errors import InvalidInputError, StoreMismatchError
from fmood.io import read_image
from fmood.io.dataset import Record, list_dataset
from fmood.store import FeatureStore

IDENTIFYING = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyDate",
    "InstitutionName",
    "ReferringPhysicianName",
    "AccessionNumber",
    "StudyInstanceUID",
)


def _run(backbone, data, store, **kwargs) -> EmbedSummary:
    kwargs.setdefault("num_workers", 0)
    kwargs.setdefault("progress", False)
    return embed_dataset(backbone, data, store, **kwargs)


def _expected(
    backbone, folder: Path, **read_options
) -> tuple[np.ndarray, list[tuple[str, object]]]:
    """Vectors the slow obvious way: read each good file, embed its images in one batch."""
    vectors, keys = [], []
    for name in sorted(FRAMES):
        path = folder / name
        kind = "nifti" if name.endswith(".nii.gz") else "dicom" if name.endswith(".dcm") else ""
        options = {
            k: v
            for k, v in read_options.items()
            if (kind == "nifti" and k != "window") or (kind == "dicom" and k == "window")
        }
        images = read_image(path, **options)
        vectors.append(backbone.embed(images))
        keys += [(os.path.abspath(path), image.frame) for image in images]
    return np.concatenate(vectors), keys


def _keys(store: FeatureStore) -> list[tuple[str, object]]:
    meta = store.metadata
    return [
        (p, None if pd.isna(f) else int(f))
        for p, f in zip(meta["path"], meta["frame"], strict=True)
    ]


def test_folder_embeds_every_image_with_its_metadata(backbone, folder, tmp_path):
    summary = _run(backbone, folder, tmp_path / "store", batch_size=4)
    store = FeatureStore.open(tmp_path / "store")
    assert summary.n_files == len(FRAMES) + len(BAD)
    assert summary.n_embedded_files == len(FRAMES)
    assert summary.n_images == len(store) == n_frames()
    assert (summary.n_skipped_files, summary.n_failed_files) == (0, len(BAD))
    assert store.fingerprint == backbone.fingerprint and store.metric == "l2"

    expected, keys = _expected(backbone, folder)
    assert _keys(store) == keys  # folder order, frames in order; absolute paths
    np.testing.assert_allclose(store.embeddings, expected, rtol=1e-5, atol=1e-6)

    meta = store.metadata.set_index(["path"])
    assert list(store.metadata.columns[:3]) == ["path", "frame", "file_sha256"]
    for name in FRAMES:
        path = os.path.abspath(folder / name)
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert set(meta.loc[[path], "file_sha256"]) == {digest}
    stack = store.metadata[store.metadata["path"].str.endswith("stack.tif")]
    assert stack["frame"].tolist() == [0, 1, 2]
    ct = store.metadata[store.metadata["path"].str.endswith("ct.dcm")].iloc[0]
    assert ct["Modality"] == "CT" and ct["Manufacturer"] == "GE MEDICAL SYSTEMS"
    assert ct["PixelSpacing"] == "[0.661468,0.661468]"  # lists as JSON text: groupable
    assert not set(IDENTIFYING) & set(store.metadata.columns)
    assert (
        not store.metadata.isin(["CompressedSamples^CT1", "1CT1", "JFK IMAGING CENTER"]).any().any()
    )


def test_manifest_columns_are_stored_and_win_over_reader_fields(backbone, folder, tmp_path):
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "path": ["data/ct.dcm", "data/a.png", str(folder / "stack.tif")],
            "site": ["A", "B", "B"],
            "label": [1, 0, 0],
            "Manufacturer": ["site-A scanner", None, None],
        }
    ).to_csv(manifest, index=False)
    summary = _run(backbone, manifest, tmp_path / "store")
    assert (summary.n_images, summary.n_failed_files) == (5, 0)
    meta = FeatureStore.open(tmp_path / "store").metadata
    assert meta["path"].map(os.path.basename).tolist() == ["ct.dcm", "a.png"] + ["stack.tif"] * 3
    assert meta["site"].tolist() == ["A", "B", "B", "B", "B"]
    assert meta["label"].tolist() == [1, 0, 0, 0, 0]
    assert meta.loc[0, "Manufacturer"] == "site-A scanner" and meta.loc[0, "Modality"] == "CT"
    assert meta.loc[2, "format"] == "TIFF"


def test_bad_files_are_listed_and_the_run_goes_on(backbone, folder, tmp_path):
    summary = _run(backbone, folder, tmp_path / "store")
    path = default_failures_path(tmp_path / "store")
    assert summary.failures_path == path == tmp_path / "store.failures.csv"
    failures = pd.read_csv(path)
    assert list(failures.columns) == ["path", "error"]
    assert sorted(map(os.path.basename, failures["path"])) == sorted(BAD)
    for row in failures.itertuples():
        assert row.error.startswith(f"{row.path}: ") and "\n" not in row.error
    reasons = dict(zip(failures["path"].map(os.path.basename), failures["error"], strict=True))
    assert "empty" in reasons["empty.png"] and "truncated" in reasons["truncated.png"]
    assert "not a DICOM" in reasons["text.dcm"] and "NIfTI" in reasons["broken.nii.gz"]
    pd.testing.assert_frame_equal(summary.failures.reset_index(drop=True), failures)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_strict_stops_at_the_first_bad_file_keeping_the_ones_before(backbone, folder, tmp_path):
    records = [Record(str(folder / n)) for n in ("a.png", "stack.tif", "text.dcm", "ct.dcm")]
    with pytest.raises(InvalidInputError, match=r"text\.dcm.*not a DICOM.*strict") as info:
        _run(backbone, records, tmp_path / "store", strict=True, batch_size=2)
    assert "\n" not in str(info.value)
    names = FeatureStore.open(tmp_path / "store").metadata["path"].map(os.path.basename)
    assert names.tolist() == ["a.png"] + ["stack.tif"] * 3


def test_strict_with_a_bad_first_file_leaves_no_store(backbone, folder, tmp_path):
    with pytest.raises(InvalidInputError, match="empty"):
        _run(backbone, [Record(str(folder / "empty.png"))], tmp_path / "store", strict=True)
    assert not (tmp_path / "store").exists()


def test_rerun_skips_what_the_store_holds(backbone, folder, tmp_path):
    first = _run(backbone, folder, tmp_path / "store")
    before = FeatureStore.open(tmp_path / "store").embeddings.copy()
    second = _run(backbone, folder, tmp_path / "store", num_workers=2)
    assert (second.n_images, second.n_embedded_files) == (0, 0)
    assert second.n_skipped_files == first.n_embedded_files == len(FRAMES)
    assert second.n_failed_files == len(BAD)  # tried again: they may have been fixed
    store = FeatureStore.open(tmp_path / "store")
    np.testing.assert_array_equal(store.embeddings, before)
    assert "skipped" in str(second) and "nothing new" in str(second)


def test_new_files_are_added_after_the_old_ones(backbone, good_folder, tmp_path):
    _run(backbone, [Record(str(good_folder / "a.png"))], tmp_path / "store")
    summary = _run(backbone, good_folder, tmp_path / "store")
    assert (summary.n_skipped_files, summary.n_embedded_files) == (1, len(FRAMES) - 1)
    _, keys = _expected(backbone, good_folder)
    store = FeatureStore.open(tmp_path / "store")
    assert sorted(_keys(store), key=str) == sorted(keys, key=str)
    assert len(store) == n_frames()


def test_a_file_changed_since_it_was_embedded_is_reported_not_added(
    backbone, good_folder, tmp_path
):
    _run(backbone, good_folder, tmp_path / "store")
    (good_folder / "c.jpg").write_bytes((good_folder / "a.png").read_bytes())
    summary = _run(backbone, good_folder, tmp_path / "store")
    assert (summary.n_images, summary.n_failed_files) == (0, 1)
    assert "changed since it was embedded" in summary.failures["error"].iloc[0]
    assert "c.jpg" in summary.failures["path"].iloc[0]
    assert len(FeatureStore.open(tmp_path / "store")) == n_frames()


def test_crash_mid_run_then_resume_equals_a_clean_run(good_folder, tmp_path):
    clean = tmp_path / "clean"
    _run(tiny_backbone(), good_folder, clean, batch_size=2, flush_every=2)
    crashed = tmp_path / "crashed"
    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(CrashingBackbone(crash_at=5), good_folder, crashed, batch_size=2, flush_every=2)
    partial = FeatureStore.open(crashed)
    assert 0 < len(partial) < n_frames()
    counts = partial.metadata["path"].map(os.path.basename).value_counts()
    assert all(counts[name] == FRAMES[name] for name in counts.index)  # whole files only

    summary = _run(tiny_backbone(), good_folder, crashed, batch_size=2, flush_every=2)
    assert summary.n_skipped_files == counts.size
    done, reference = FeatureStore.open(crashed), FeatureStore.open(clean)
    np.testing.assert_array_equal(done.embeddings, reference.embeddings)
    pd.testing.assert_frame_equal(done.metadata, reference.metadata)


def test_workers_give_the_same_vectors_as_in_process(backbone, folder, tmp_path):
    _run(backbone, folder, tmp_path / "s0", num_workers=0, batch_size=3)
    _run(backbone, folder, tmp_path / "s2", num_workers=2, batch_size=3)
    s0, s2 = FeatureStore.open(tmp_path / "s0"), FeatureStore.open(tmp_path / "s2")
    np.testing.assert_array_equal(s0.embeddings, s2.embeddings)
    pd.testing.assert_frame_equal(s0.metadata, s2.metadata)


def test_read_options_reach_only_the_readers_that_take_them(backbone, good_folder, tmp_path):
    options = {"max_slices": 2, "window": "lung"}
    summary = _run(backbone, good_folder, tmp_path / "store", read_options=options)
    assert summary.n_failed_files == 0
    store = FeatureStore.open(tmp_path / "store")
    meta = store.metadata
    volume = meta[meta["path"].str.endswith("vol.nii.gz")]
    assert volume["frame"].tolist() == [0, 4]  # 2 of 5 slices, evenly spaced
    assert volume["axis"].tolist() == [2, 2]
    assert meta.loc[meta["path"].str.endswith("ct.dcm"), "voi"].tolist() == ["[-600.0,1500.0]"]
    expected, keys = _expected(backbone, good_folder, **options)
    assert _keys(store) == keys
    np.testing.assert_allclose(store.embeddings, expected, rtol=1e-5, atol=1e-6)


def test_unknown_read_option_is_refused_before_anything_is_written(backbone, folder, tmp_path):
    with pytest.raises(InvalidInputError, match=r"windw.*dicom: window"):
        _run(backbone, folder, tmp_path / "store", read_options={"windw": "lung"})
    assert not (tmp_path / "store").exists()


def test_another_backbone_is_refused_naming_both(backbone, folder, tmp_path):
    _run(backbone, [Record(str(folder / "a.png"))], tmp_path / "store")
    other = tiny_backbone(name="tiny-v2", seed=1)
    with pytest.raises(StoreMismatchError) as info:
        _run(other, folder, tmp_path / "store")
    assert "tiny-v2" in str(info.value) and "tiny (" in str(info.value)
    assert len(FeatureStore.open(tmp_path / "store")) == 1
    wider = ModuleBackbone(torch.nn.Conv2d(3, 5, 1), Preprocessing(16), name="tiny", device="cpu")
    with pytest.raises(StoreMismatchError, match="5-d"):
        _run(wider, folder, tmp_path / "store")


def test_nothing_readable_leaves_no_store_and_lists_the_failures(backbone, folder, tmp_path):
    records = [Record(str(folder / name)) for name in BAD]
    summary = _run(backbone, records, tmp_path / "store")
    assert (summary.n_embedded_files, summary.n_failed_files) == (0, len(BAD))
    assert not (tmp_path / "store").exists()
    assert len(pd.read_csv(summary.failures_path)) == len(BAD)


def test_failures_file_is_replaced_each_run_and_removed_when_none_fail(backbone, folder, tmp_path):
    out = tmp_path / "reports" / "failed.csv"
    _run(backbone, folder, tmp_path / "store", failures_path=out)
    assert len(pd.read_csv(out)) == len(BAD)
    (folder / "empty.png").unlink()
    _run(backbone, folder, tmp_path / "store", failures_path=out)
    assert len(pd.read_csv(out)) == len(BAD) - 1
    for name in BAD[1:]:
        (folder / name).unlink()
    summary = _run(backbone, folder, tmp_path / "store", failures_path=out)
    assert summary.failures_path is None and not out.exists()
    assert "No file failed" in str(summary)


def test_a_feature_store_object_is_appended_to_and_refreshed(backbone, good_folder, tmp_path):
    store = FeatureStore.create(tmp_path / "store", backbone.dim, backbone.fingerprint, metric="l2")
    reader = FeatureStore.open(tmp_path / "store")  # read-only: reopened for appending
    summary = _run(backbone, good_folder, reader)
    assert summary.store == store.path and len(reader) == n_frames()


def test_backbone_name_is_loaded(good_folder, tmp_path, monkeypatch):
    from fmood.embed import pipeline

    monkeypatch.setattr(pipeline, "load", lambda name: tiny_backbone(name=name))
    summary = _run("tiny-by-name", [Record(str(good_folder / "a.png"))], tmp_path / "store")
    assert summary.backbone == "tiny-by-name" and summary.n_images == 1


def test_non_finite_vectors_fail_their_file(good_folder, tmp_path):
    class NaNForBright(ModuleBackbone):
        def _features(self, batch):
            out = super()._features(batch)
            bright = batch.mean(dim=(1, 2, 3)) > 0.9
            return torch.where(bright[:, None], torch.nan, out)

    white = good_folder / "white.png"
    PILImage.fromarray(np.full((20, 20), 255, np.uint8)).save(white)
    bb = NaNForBright(torch.nn.Conv2d(3, 4, 3), Preprocessing(16), name="nan", device="cpu")
    summary = _run(bb, good_folder, tmp_path / "store", batch_size=4)
    assert summary.n_failed_files == 1 and "NaN or infinite" in summary.failures["error"].iloc[0]
    assert summary.n_images == n_frames()
    assert np.isfinite(FeatureStore.open(tmp_path / "store").embeddings).all()


@pytest.mark.parametrize("bad", [{"frame": 1}, {"file_sha256": "x"}])
def test_manifest_columns_may_not_shadow_what_embedding_stores(
    backbone, good_folder, tmp_path, bad
):
    with pytest.raises(InvalidInputError, match="clash"):
        _run(backbone, [Record(str(good_folder / "a.png"), bad)], tmp_path / "store")


def test_argument_errors(backbone, good_folder, tmp_path):
    records = list_dataset(good_folder)
    with pytest.raises(InvalidInputError, match="num_workers"):
        _run(backbone, records, tmp_path / "s", num_workers=-1)
    with pytest.raises(InvalidInputError, match="batch_size"):
        _run(backbone, records, tmp_path / "s", batch_size=0)
    with pytest.raises(InvalidInputError, match="more than once"):
        _run(backbone, records + records[:1], tmp_path / "s")
    with pytest.raises(InvalidInputError, match="no file"):
        _run(backbone, [], tmp_path / "s")
    with pytest.raises(FileNotFoundError):
        _run(backbone, tmp_path / "missing", tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_summary_reads_as_a_paragraph(backbone, folder, tmp_path):
    summary = _run(backbone, folder, tmp_path / "store")
    text = str(summary)
    assert "\n" not in text
    assert (
        f"Embedded {n_frames()} images from {len(FRAMES)} of {len(FRAMES) + len(BAD)} files" in text
    )
    assert "images/s" in text and str(summary.failures_path) in text
    assert summary.images_per_second == pytest.approx(summary.n_images / summary.seconds)


def test_real_efficientnet_on_a_handful_of_files(tmp_path):
    from fmood.backbones import load

    pytest.importorskip("efficientnet_lite_pytorch")
    net = load("efficientnet-lite0", device="cpu")
    folder = make_folder(tmp_path / "data", bad=False)
    for name in ("b_rgb.png", "c.jpg", "mr.dcm", "vol.nii.gz"):
        (folder / name).unlink()
    shutil.copy(folder / "a.png", folder / "copy.png")
    summary = _run(net, folder, tmp_path / "store", batch_size=4, num_workers=1)
    store = FeatureStore.open(tmp_path / "store")
    assert summary.n_images == len(store) == 6 and store.dim == 1280
    assert store.fingerprint == net.fingerprint
    images = [
        im
        for name in ("a.png", "copy.png", "ct.dcm", "stack.tif")
        for im in read_image(folder / name)
    ]
    np.testing.assert_allclose(store.embeddings, net.embed(images), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(store.embeddings[0], store.embeddings[1])  # same bytes


def test_a_reused_staging_buffer_gives_the_same_vectors(backbone, good_folder):
    """The CUDA path copies each batch into one reused (pinned) buffer; same result here."""
    from fmood.embed.pipeline import _Batcher, _File
    from fmood.embed.reader import FileDataset, Job

    dataset = FileDataset([Job(r) for r in list_dataset(good_folder)], backbone.preprocessing, {})
    results = {}
    for staged in (False, True):
        done = []
        buffer = torch.full((3, 3, 32, 32), torch.nan) if staged else None
        batcher = _Batcher(backbone, 3, done.append, pinned=buffer)
        for item in dataset:
            n = len(item["rows"])
            batcher.push(
                _File(
                    item["path"],
                    item["sha256"],
                    item["rows"],
                    item["pixels"],
                    np.empty((n, backbone.dim), np.float32),
                )
            )
        batcher.drain()
        assert [f.path for f in done] == [
            os.path.abspath(p) for p in sorted(str(good_folder / n) for n in FRAMES)
        ]
        results[staged] = np.concatenate([f.vectors for f in done])
    np.testing.assert_array_equal(results[True], results[False])


def test_progress_lines_when_stderr_is_not_a_terminal(backbone, folder, tmp_path, capsys):
    # issue 12: with stderr not a terminal (a log, CI) embedding showed no progress at all,
    # and on a terminal the bar read 100% at 0.0 images/s while frames were still embedded.
    summary = _run(backbone, folder, tmp_path / "store", batch_size=64, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines, "no progress line"
    final = lines[-1]
    n_files = len(FRAMES) + len(BAD)
    assert final.startswith(f"embedding: {n_files}/{n_files} files (100%), {n_frames()} images")
    assert "images/s" in final and " in " in final
    assert "\r" not in "".join(lines)  # plain lines, not a redrawn bar
    assert not any("(100%)" in line for line in lines[:-1])
    images = [int(line.split(", ")[1].split()[0]) for line in lines]
    assert images == sorted(images) and images[-1] == n_frames()
    assert summary.n_images == n_frames()


def test_quiet_embedding_writes_nothing(backbone, folder, tmp_path, capsys):
    _run(backbone, folder, tmp_path / "store", progress=False)
    assert capsys.readouterr().err == ""
