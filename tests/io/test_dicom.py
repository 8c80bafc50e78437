"""DICOM reader on files shipped with pydicom and pydicom-data (no downloads)."""

from __future__ import annotations

import re
import shutil
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from fmood.errors import InvalidInputError
from fmood.io import read_image
from fmood.io.dicom import (
    CT_WINDOWS,
    MULTIFRAME_FACTOR,
    TECHNICAL_FIELDS,
    IdentifiablePixelsError,
    read_dicom,
    text_hash,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def local(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.fail(f"{name} is not installed: the test extra installs pydicom-data")
    return path


def linear_window(values, center, width):
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR window, written out as its three cases."""
    values = np.asarray(values, dtype=np.float64)
    return np.select(
        [values <= center - 0.5 - (width - 1) / 2, values > center - 0.5 + (width - 1) / 2],
        [0.0, 1.0],
        (values - (center - 0.5)) / (width - 1) + 0.5,
    )


def test_ct_min_max_of_hounsfield_units():
    path = local("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    (image,) = read_dicom(path)  # CT_small has no window: min-max over HU
    assert image.pixels.dtype == np.float32 and image.pixels.shape == (128, 128)
    expected = (hu - hu.min()) / (hu.max() - hu.min())
    np.testing.assert_allclose(image.pixels, expected, atol=1e-6)
    assert image.metadata["voi"] == "min-max"
    assert image.frame is None


@pytest.mark.parametrize("preset", ["brain", "soft-tissue", "lung"])
def test_ct_preset_window_matches_hand_computation(preset):
    path = local("CT_small.dcm")
    ds = pydicom.dcmread(path)
    hu = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    assert (ds.RescaleSlope, ds.RescaleIntercept) == (1, -1024)
    center, width = CT_WINDOWS[preset]
    (image,) = read_dicom(path, window=preset)
    np.testing.assert_allclose(image.pixels, linear_window(hu, center, width), atol=1e-6)
    assert image.metadata["voi"] == [center, width]


def test_brain_preset_values_by_hand():
    (image,) = read_dicom(local("CT_small.dcm"), window="brain")
    ds = pydicom.dcmread(local("CT_small.dcm"))
    hu = ds.pixel_array.astype(np.float64) * 1 - 1024
    # brain (40, 80): below 0.5 HU -> 0, above 79.5 HU -> 1, linear between.
    assert np.all(image.pixels[hu <= 0.5] == 0)
    assert np.all(image.pixels[hu > 79.5] == 1)
    between = (hu > 0.5) & (hu <= 79.5)
    np.testing.assert_allclose(image.pixels[between], (hu[between] - 39.5) / 79 + 0.5, atol=1e-6)


def test_explicit_window_tuple_equals_preset():
    (a,) = read_dicom(local("CT_small.dcm"), window=(40, 80))
    (b,) = read_dicom(local("CT_small.dcm"), window="brain")
    np.testing.assert_array_equal(a.pixels, b.pixels)


def test_unknown_preset_names_choices():
    with pytest.raises(InvalidInputError, match="CT_small.dcm.*'liver'.*brain"):
        read_dicom(local("CT_small.dcm"), window="liver")


def test_mr_uses_file_window():
    path = local("MR_small.dcm")
    ds = pydicom.dcmread(path)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    (image,) = read_dicom(path)
    values = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    np.testing.assert_allclose(image.pixels, linear_window(values, center, width), atol=1e-6)
    assert image.metadata["Modality"] == "MR"
    assert image.metadata["voi"] == [center, width]


def test_multiframe_one_image_per_frame():
    path = local("emri_small.dcm")
    images = read_dicom(path)
    assert len(images) == 10
    assert [image.frame for image in images] == list(range(10))
    assert all(image.pixels.shape == (64, 64) for image in images)
    stored = pydicom.dcmread(path).pixel_array.astype(np.float64)
    expected = (stored - stored.min()) / (stored.max() - stored.min())  # min-max over the file
    np.testing.assert_allclose(np.stack([image.pixels for image in images]), expected, atol=1e-6)


def test_frames_over_max_pixels_are_refused_before_decoding(monkeypatch):
    path = local("emri_small.dcm")  # 10 frames of 64 x 64 = 40,960 pixels
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(lambda ds: pytest.fail("decoded")))
    with pytest.raises(InvalidInputError, match=r"emri_small.dcm: a frame of 64 x 64 = 4,096"):
        read_dicom(path, max_pixels=4095)
    with pytest.raises(InvalidInputError, match=r"10 frames of 10 x 64 x 64 = 40,960"):
        read_dicom(path, max_pixels=40960 // MULTIFRAME_FACTOR - 1)
    monkeypatch.undo()
    assert len(read_dicom(path, max_pixels=40960 // MULTIFRAME_FACTOR)) == 10


def test_monochrome1_inverted():
    path = local("RG1_UNCI.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    values = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    (image,) = read_dicom(path)
    np.testing.assert_allclose(image.pixels, 1.0 - linear_window(values, center, width), atol=1e-6)
    # MONOCHROME1: the highest stored value is displayed darkest, the lowest brightest.
    highest = np.unravel_index(np.argmax(values), values.shape)
    lowest = np.unravel_index(np.argmin(values), values.shape)
    assert image.pixels[highest] == image.pixels.min()
    assert image.pixels[lowest] == image.pixels.max()
    assert image.pixels.max() > image.pixels.min()


def test_jpeg2000_decodes_or_names_transfer_syntax():
    path = local("US1_J2KR.dcm")
    try:
        (image,) = read_dicom(path)
    except InvalidInputError as error:
        message = str(error)
        assert "US1_J2KR.dcm" in message and "1.2.840.10008.1.2.4.90" in message
        assert "JPEG 2000" in message and "openjpeg" in message
    else:
        assert image.pixels.shape == (480, 640, 3)
        assert image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0
        assert image.metadata["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.90"


def test_compressed_without_decoder_names_syntax_and_package():
    path = local("emri_small_jpeg_ls_lossless.dcm")
    try:
        images = read_dicom(path)
    except InvalidInputError as error:
        message = str(error)
        assert "emri_small_jpeg_ls_lossless.dcm" in message
        assert "JPEG-LS Lossless Image Compression" in message
        assert "1.2.840.10008.1.2.4.80" in message
        assert "pylibjpeg" in message and "gdcm" in message
    else:  # a JPEG-LS decoder happens to be installed
        assert len(images) == 10


def test_metadata_is_technical_only():
    path = local("CT_small.dcm")
    ds = pydicom.dcmread(path)
    assert "PatientName" in ds and "PatientID" in ds and "StudyDate" in ds
    (image,) = read_dicom(path)
    allowed = set(TECHNICAL_FIELDS) | {"TransferSyntaxUID", "voi"}
    assert set(image.metadata) <= allowed
    for field in ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "AccessionNumber"):
        assert field not in image.metadata
    text = repr(image.metadata)
    assert str(ds.PatientName) not in text and str(ds.PatientID) not in text
    assert image.metadata["PixelSpacing"] == [float(v) for v in ds.PixelSpacing]
    assert image.metadata["Modality"] == "CT"
    assert image.metadata["TransferSyntaxUID"] == "1.2.840.10008.1.2.1"


def test_text_file_named_dcm(tmp_path):
    path = tmp_path / "fake.dcm"
    path.write_text("PatientName: nobody\nthis is not DICOM\n" * 20)
    with pytest.raises(InvalidInputError, match="fake.dcm"):
        read_image(path)


def test_dispatch_without_suffix_by_preamble(tmp_path):
    path = tmp_path / "IM0001"
    shutil.copy(local("CT_small.dcm"), path)
    (image,) = read_image(path, window="bone")
    (expected,) = read_dicom(local("CT_small.dcm"), window="bone")
    np.testing.assert_array_equal(image.pixels, expected.pixels)


# Privacy: free text sanitised, identifiable pixels refused (fmood.io.dicom docstring).
NAMES = ["DOE^JOHN", "Doe^John^^Mr", "John Doe", "DOE, JOHN", "MRN 1234567", "19700101"]


def dicom_with(tmp_path, name="case.dcm", **tags) -> str:
    """CT_small.dcm with ``tags`` set (keyword -> value), saved under ``tmp_path``."""
    ds = pydicom.dcmread(local("CT_small.dcm"))
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    path = tmp_path / name
    ds.save_as(path)
    return str(path)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "field", ["Manufacturer", "ManufacturerModelName", "BodyPartExamined", "Modality"]
)
def test_a_patient_name_in_a_text_field_never_reaches_the_metadata(tmp_path, field, name):
    (image,) = read_dicom(dicom_with(tmp_path, **{field: name}))
    assert image.metadata[field] == text_hash(name)
    assert re.fullmatch(r"sha256:[0-9a-f]{8}", image.metadata[field])
    text = repr(image.metadata).upper()
    assert all(part not in text for part in re.split(r"[\^, ]+", name.upper()) if part)


def test_equal_texts_hash_equally_so_images_still_group(tmp_path):
    (a,) = read_dicom(dicom_with(tmp_path, "a.dcm", Manufacturer="Acme Imaging Lab 7"))
    (b,) = read_dicom(dicom_with(tmp_path, "b.dcm", Manufacturer=" ACME  imaging lab 7 "))
    (c,) = read_dicom(dicom_with(tmp_path, "c.dcm", Manufacturer="Other Lab"))
    assert a.metadata["Manufacturer"] == b.metadata["Manufacturer"] != c.metadata["Manufacturer"]


def test_known_vendors_models_and_coded_terms_are_kept(tmp_path):
    path = dicom_with(
        tmp_path,
        Manufacturer="Philips Medical Systems",
        ManufacturerModelName="Discovery MR750w",
        BodyPartExamined="whole body",
    )
    (image,) = read_dicom(path)
    assert image.metadata["Manufacturer"] == "Philips Medical Systems"
    assert image.metadata["ManufacturerModelName"] == "Discovery MR750w"
    assert image.metadata["BodyPartExamined"] == "WHOLEBODY"  # PS3.16 Annex L term
    assert image.metadata["Modality"] == "CT"
    assert image.metadata["PhotometricInterpretation"] == "MONOCHROME2"


def test_free_text_drop_leaves_unknown_text_out_and_keep_copies_it(tmp_path):
    path = dicom_with(tmp_path, Manufacturer="DOE^JOHN", ManufacturerModelName="Ingenia")
    (dropped,) = read_dicom(path, free_text="drop")
    assert "Manufacturer" not in dropped.metadata
    assert dropped.metadata["ManufacturerModelName"] == "Ingenia"
    (kept,) = read_dicom(path, free_text="keep")
    assert kept.metadata["Manufacturer"] == "DOE^JOHN"
    with pytest.raises(InvalidInputError, match="free_text.*'hash', 'drop', 'keep'.*'none'"):
        read_dicom(path, free_text="none")


def test_text_in_a_numeric_field_is_left_out_unseen(tmp_path):
    ds = pydicom.dcmread(local("CT_small.dcm"))
    del ds["KVP"]
    ds.add_new(0x00180060, "LO", "DOE^JOHN")  # KVP (a DS) holding a name
    path = tmp_path / "kvp.dcm"
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=True, little_endian=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom's invalid-value warning would print the name
        (image,) = read_dicom(path)
    assert "KVP" not in image.metadata and "DOE" not in repr(image.metadata)
    assert image.metadata["SliceThickness"] == 5.0


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"BurnedInAnnotation": "YES"}, "burned-in annotation"),
        ({"RecognizableVisualFeatures": "YES"}, "recognizable visual features"),
        (
            {"BurnedInAnnotation": "yes ", "RecognizableVisualFeatures": "YES"},
            "burned-in annotation, recognizable visual features",
        ),
        ({"BurnedInAnnotation": "MAYBE"}, "burned-in annotation"),  # odd value: assume yes
    ],
)
def test_identifiable_pixels_are_refused_by_default(tmp_path, monkeypatch, tags, reason):
    path = dicom_with(tmp_path, **tags)
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(lambda ds: pytest.fail("decoded")))
    with pytest.raises(IdentifiablePixelsError) as caught:
        read_image(path)
    assert isinstance(caught.value, InvalidInputError)  # a failure row, not a crash
    assert caught.value.reason == reason and str(caught.value).startswith(f"{path}: ")
    assert "identifiable_pixels='embed'" in str(caught.value)


def test_identifiable_pixels_embed_reads_them_and_records_why(tmp_path):
    path = dicom_with(tmp_path, BurnedInAnnotation="YES")
    (image,) = read_dicom(path, identifiable_pixels="embed")
    (plain,) = read_dicom(local("CT_small.dcm"))
    np.testing.assert_array_equal(image.pixels, plain.pixels)
    assert image.metadata["pixels_withheld"] == "burned-in annotation"
    assert "pixels_withheld" not in plain.metadata
    with pytest.raises(InvalidInputError, match="identifiable_pixels.*'skip', 'embed'"):
        read_dicom(path, identifiable_pixels="show")


def test_burned_in_annotation_no_reads_normally(tmp_path):
    path = dicom_with(tmp_path, BurnedInAnnotation="NO", RecognizableVisualFeatures="NO")
    (image,) = read_dicom(path)
    assert "pixels_withheld" not in image.metadata
