"""Synthetic embeddings with the structure of a multi-site imaging study and graded shifts.

Real foundation-model features of medical images have a low intrinsic dimension (anatomy,
contrast, field of view), strong within-patient correlation (adjacent slices), modest
site-to-site offsets, and respond to acquisition artifacts by moving energy into directions
the clean data rarely uses. This generator mimics exactly those properties so the
feature-space pipeline can be exercised, and its answers checked, without any model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SyntheticShift:
    """A reference and a target set, each with one metadata row per vector.

    Attributes
    ----------
    reference, target : ndarray of shape (n, dim), float32
    reference_metadata, target_metadata : DataFrame
        Columns ``path``, ``site``, ``patient``, ``label``, ``shift`` (what the row is:
        "none", "artifact", "new-site", "other-modality") and ``severity`` (0 for clean rows,
        1-5 for graded artifacts).
    """

    reference: np.ndarray
    reference_metadata: pd.DataFrame
    target: np.ndarray
    target_metadata: pd.DataFrame


def make_hospital_shift(
    *,
    dim: int = 128,
    n_sites: int = 3,
    patients_per_site: int = 40,
    slices_per_patient: int = 12,
    n_target_patients: int = 20,
    random_state: int = 0,
) -> SyntheticShift:
    """Reference: several sites of one modality. Target: new patients from those sites, the
    same patients with an artifact at severities 1-5, a new site, and another modality.
    """
    rng = np.random.default_rng(random_state)
    latent_dim = 12
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    anatomy, rare = basis[:, :latent_dim], basis[:, latent_dim:]
    latent_scale = np.linspace(3.0, 0.8, latent_dim)
    class_centres = rng.standard_normal((3, latent_dim)) * 2.0
    site_offsets = rng.standard_normal((n_sites + 1, dim)) * 0.35
    artifact_direction = rare[:, :8] @ rng.standard_normal(8)
    artifact_direction /= np.linalg.norm(artifact_direction)
    modality_offset = rng.standard_normal(dim) * 1.2

    def patients(site: int, n_patients: int, prefix: str, first_id: int):
        rows, vectors = [], []
        for p in range(first_id, first_id + n_patients):
            label = int(rng.integers(3))
            patient_centre = (
                class_centres[label] + rng.standard_normal(latent_dim) * latent_scale * 0.5
            )
            for s in range(slices_per_patient):
                z = patient_centre + rng.standard_normal(latent_dim) * latent_scale * 0.4
                vectors.append(anatomy @ z + site_offsets[site] + rng.standard_normal(dim) * 0.3)
                rows.append(
                    {
                        "path": f"{prefix}/site{site}/patient{p:03d}/slice{s:02d}.dcm",
                        "site": f"site{site}",
                        "patient": f"site{site}-p{p:03d}",
                        "label": label,
                        "shift": "none",
                        "severity": 0,
                    }
                )
        return np.asarray(vectors), rows

    ref_parts = [patients(site, patients_per_site, "reference", 0) for site in range(n_sites)]
    reference = np.concatenate([v for v, _ in ref_parts])
    reference_rows = [r for _, rows in ref_parts for r in rows]

    per_site = max(n_target_patients // n_sites, 1)
    clean_parts = [patients(site, per_site, "target", 1000) for site in range(n_sites)]
    clean = np.concatenate([v for v, _ in clean_parts])
    clean_rows = [r for _, rows in clean_parts for r in rows]
    target_vectors, target_rows = [clean], list(clean_rows)
    for severity in range(1, 6):
        # Artifacts push energy off the anatomy subspace, more with severity, plus noise.
        magnitude = 0.6 * severity
        noisy = (
            clean
            + magnitude * artifact_direction
            + rng.standard_normal(clean.shape) * 0.05 * severity
        )
        target_vectors.append(noisy)
        target_rows += [
            {
                **row,
                "path": row["path"].replace(".dcm", f"_artifact{severity}.dcm"),
                "shift": "artifact",
                "severity": severity,
            }
            for row in clean_rows
        ]
    new_site, new_site_rows = patients(n_sites, per_site, "target", 2000)
    target_vectors.append(new_site)
    target_rows += [{**row, "shift": "new-site"} for row in new_site_rows]
    other, other_rows = patients(0, per_site, "target", 3000)
    target_vectors.append(other + modality_offset)
    target_rows += [{**row, "shift": "other-modality"} for row in other_rows]
    return SyntheticShift(
        reference=reference.astype(np.float32),
        reference_metadata=pd.DataFrame(reference_rows),
        target=np.concatenate(target_vectors).astype(np.float32),
        target_metadata=pd.DataFrame(target_rows),
    )
