"""From a validated dataset config to image records."""

from __future__ import annotations

import os

from .folder import folder_records, load_groups
from .records import ImageRecord
from .sample import sample_records


def load_records(ds) -> tuple[list[ImageRecord], list[tuple[str, str]]]:
    """Records for a `DatasetConfig`, plus (name, reason) for files that were
    listed but cannot be read at all. Declared groups (groups.csv: columns
    image,group; image = relative path/sample name or sha256) are applied.
    Every record's image_id is the sha256 of the file's bytes."""
    groups = load_groups(ds.groups) if ds.groups else None
    if ds.source == "sample":
        records, errors = sample_records(), []
        if groups:
            records = [
                ImageRecord(
                    r.image_id, r.name, r.path, groups.get(r.name) or groups.get(r.image_id) or r.group, r.bytes
                )
                for r in records
            ]
    elif ds.source == "manifest":
        from .manifest import manifest_records

        records, errors = manifest_records(ds.path, groups, follow_symlinks=ds.follow_symlinks)
    elif ds.source == "catalog":
        from .catalog import default_dest
        from .manifest import manifest_records

        folder = os.path.join(os.path.expanduser(ds.dest or default_dest()), ds.name)
        records, errors = manifest_records(
            os.path.join(folder, "MANIFEST.csv"), groups, follow_symlinks=ds.follow_symlinks, confine=True
        )
    elif "://" in ds.path:
        from .remote import fsspec_records

        records, errors = fsspec_records(ds.path, ds.extensions, ds.recursive, groups, ds.cache)
    else:
        records, errors = folder_records(
            ds.path, ds.extensions, ds.recursive, groups, follow_symlinks=getattr(ds, "follow_symlinks", False)
        )
    if ds.limit:
        records = records[: ds.limit]
    return records, errors
