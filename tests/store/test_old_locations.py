"""Names that moved to fmood.utils stay importable from their old places in the store."""

import fmood
import fmood.store
import fmood.store.atomic
import fmood.store.fingerprint
import fmood.store.index
import fmood.store.layout
import fmood.store.manifest
import fmood.utils.atomic
import fmood.utils.blocks
import fmood.utils.fingerprint
import fmood.utils.index


def test_old_module_paths_export_the_same_objects():
    for old, new in [
        (fmood.store.atomic, fmood.utils.atomic),
        (fmood.store.index, fmood.utils.index),
        (fmood.store.fingerprint, fmood.utils.fingerprint),
    ]:
        assert old.__all__, old
        for name in old.__all__:
            assert getattr(old, name) is getattr(new, name), f"{old.__name__}.{name}"


def test_old_names_in_the_store_package_are_the_moved_ones():
    assert fmood.store.Fingerprint is fmood.Fingerprint is fmood.utils.fingerprint.Fingerprint
    assert fmood.store.search is fmood.utils.index.search
    assert fmood.store.manifest.check_blocks is fmood.utils.blocks.check_blocks
    assert fmood.store.manifest.FINAL_BLOCK == fmood.utils.blocks.FINAL_BLOCK
    assert fmood.store.layout.TMP_SUFFIX == fmood.utils.atomic.TMP_SUFFIX
