import numpy as np

from fmood.datasets import make_hospital_shift


def test_shapes_metadata_and_reproducibility():
    a = make_hospital_shift(dim=32, patients_per_site=5, slices_per_patient=4, n_target_patients=6)
    b = make_hospital_shift(dim=32, patients_per_site=5, slices_per_patient=4, n_target_patients=6)
    np.testing.assert_array_equal(a.reference, b.reference)
    assert a.reference.shape == (3 * 5 * 4, 32) and a.reference.dtype == np.float32
    assert len(a.reference_metadata) == len(a.reference)
    assert len(a.target_metadata) == len(a.target)
    assert set(a.target_metadata["shift"]) == {"none", "artifact", "new-site", "other-modality"}
    assert sorted(
        a.target_metadata.loc[a.target_metadata["shift"] == "artifact", "severity"].unique()
    ) == [1, 2, 3, 4, 5]
    assert a.reference_metadata["path"].is_unique and a.target_metadata["path"].is_unique


def test_artifacts_move_further_with_severity():
    data = make_hospital_shift(
        dim=32, patients_per_site=5, slices_per_patient=4, n_target_patients=6
    )
    meta = data.target_metadata
    clean = data.target[(meta["shift"] == "none").to_numpy()]
    gaps = [
        np.linalg.norm(
            data.target[((meta["shift"] == "artifact") & (meta["severity"] == s)).to_numpy()]
            - clean,
            axis=1,
        ).mean()
        for s in range(1, 6)
    ]
    assert np.all(np.diff(gaps) > 0)
