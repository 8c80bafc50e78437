import json

from fmood.workflows import report


def test_report_from_image_folders_flags_the_chest_radiographs(tmp_path, image_folders):
    summary = report(
        image_folders["reference"],
        image_folders["target"],
        tmp_path / "out",
        backbone="efficientnet-lite0",
        device="cpu",
        store_root=tmp_path / "embeddings",
        progress=False,
        n_top=4,
        n_bootstrap=50,
    )
    assert summary.status != "in-distribution"
    scores = summary.scores_path.read_text().splitlines()
    assert len(scores) == 1 + 16
    table = json.loads(summary.summary_path.read_text())
    assert table["n_reference"] == 40 and table["n_target"] == 16
    # The 8 chest crops are the flagged ones; the 8 held-out brain slices mostly are not.
    import pandas as pd

    frame = pd.read_csv(summary.scores_path)
    chest = frame["path"].str.contains("chest")
    assert frame.loc[chest, "flagged"].all()
    assert frame.loc[chest, "degree"].min() > frame.loc[~chest, "degree"].median()
    # Both sides were embedded once into the store root.
    assert len([p for p in (tmp_path / "embeddings").iterdir() if p.is_dir()]) == 2
