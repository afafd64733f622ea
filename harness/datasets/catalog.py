"""Catalogue of benign public image sets (the same list as datasets.md).

Each entry names its archives (URL, sha256, size), the folder inside the
extracted archive that holds the images, the license and attribution, the
expected image count and caveats. `phash-harness fetch NAME` downloads,
verifies and extracts an entry (see harness.datasets.fetch).

Checksums: an archive's sha256 is written here only when it could be checked
against a published source (noted in `checksum_source`). Where none could
be verified it is None, and `fetch` refuses to run unless the user passes
`--sha256 HEX` (computed from a copy they trust). No checksum here is a guess.
Entries whose archive needs a license agreement or a signed URL have
``url=None``: the user passes ``--url`` (a ``file://`` path works too).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

from ..errors import ConfigError


@dataclass(frozen=True)
class Archive:
    """One downloadable archive of a dataset.

    url: where to get it, or None when the user must supply it (``--url``).
    sha256: hex digest of the archive bytes, or None when no published
        checksum could be verified (then ``--sha256`` is required).
    filename: name the download is saved under.
    size: archive size in bytes when published, else None.
    inner: path (inside this archive) of a nested archive to extract too,
        e.g. Caltech-101's zip holds ``101_ObjectCategories.tar.gz``.
    inner_sha256: verified sha256 of that nested archive, or None.
    checksum_source: where the checksum(s) were checked.
    """

    url: str | None
    sha256: str | None
    filename: str
    size: int | None = None
    inner: str | None = None
    inner_sha256: str | None = None
    checksum_source: str = ""


@dataclass(frozen=True)
class CatalogEntry:
    """A dataset that `fetch` knows.

    images_dir: folder inside the extracted archives that holds the images
        (it becomes ``DEST/NAME/images``); "" means the whole tree.
    exclude: top-level sub-folders of images_dir that are dropped (e.g.
        people-centric categories).
    count: expected number of image files after extraction (None: unknown).
    """

    name: str
    title: str
    archives: tuple[Archive, ...]
    images_dir: str
    license: str
    attribution: str
    homepage: str
    count: int | None = None
    resolution: str = ""
    size: str = ""
    contents: str = ""
    why: str = ""
    caveats: str = ""
    exclude: tuple[str, ...] = field(default_factory=tuple)
    user_supplied: bool = False

    @property
    def verified(self) -> bool:
        """True when every archive has a verified sha256."""
        return all(a.sha256 for a in self.archives)


_TFDS = "tensorflow/datasets url_checksums/{}.txt"

CATALOG: dict[str, CatalogEntry] = {}


def _add(entry: CatalogEntry) -> None:
    CATALOG[entry.name] = entry


_add(
    CatalogEntry(
        name="caltech101",
        title="Caltech-101 (101 object categories), without Faces, Faces_easy and BACKGROUND_Google",
        archives=(
            Archive(
                url="https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip",
                sha256="331234750fc7f77520e50d9565e8b6907b03565e30320da1401130db08c61f91",
                size=137414764,
                filename="caltech-101.zip",
                inner="caltech-101/101_ObjectCategories.tar.gz",
                inner_sha256="af6ece2f339791ca20f855943d8b55dd60892c0a25105fcd631ee3d6430f9926",
                checksum_source=(
                    "zip: identical sha256 in three independent public download scripts "
                    "(one states it is the archive TFDS downloads); inner tar.gz: "
                    + _TFDS.format("caltech101")
                    + " (131,740,031 bytes), also torchvision's "
                    "prototype Caltech101 resource and fastai's dataset list"
                ),
            ),
        ),
        images_dir="101_ObjectCategories",
        exclude=("Faces", "Faces_easy", "BACKGROUND_Google"),
        count=7807,
        license="CC BY 4.0 (as published on CaltechDATA)",
        attribution=(
            "Li, Andreeto, Ranzato & Perona (2022). Caltech 101 (1.0) [Data set]. CaltechDATA. "
            "https://doi.org/10.22002/D1.20086; Fei-Fei, Fergus & Perona, CVPR Workshop 2004"
        ),
        homepage="https://doi.org/10.22002/D1.20086",
        resolution="small: median 300x225, widths 80-457, heights 92-494",
        size="137.4 MB zip; 7,807 JPEGs, 102 MB after exclusions",
        contents="objects of 99 categories (after exclusions), mostly centred on plain backgrounds",
        why=(
            "many near-identical compositions (object centred on white): hard negatives for "
            "false-positive counts; small and quick"
        ),
        caveats=(
            "web-collected; the three people/background folders are dropped; ~34 pairs are the same "
            "photo re-encoded (screen before counting false positives); classes imbalanced "
            "(airplanes 800, Motorbikes 798)"
        ),
    )
)

_add(
    CatalogEntry(
        name="coco2017-val",
        title="COCO 2017 validation images",
        archives=(
            Archive(
                url="http://images.cocodataset.org/zips/val2017.zip",
                sha256="4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05",
                size=815585330,
                filename="val2017.zip",
                checksum_source=_TFDS.format("coco2017"),
            ),
        ),
        images_dir="val2017",
        count=5000,
        license=(
            "annotations CC BY 4.0 (COCO Consortium); each image keeps the Flickr license its "
            "owner chose (the COCO terms list these; the consortium does not own the images)"
        ),
        attribution="Lin et al., Microsoft COCO: Common Objects in Context, ECCV 2014",
        homepage="https://cocodataset.org/",
        resolution="about 640x480 (longest side 640)",
        size="816 MB archive, 5,000 JPEGs",
        contents="everyday scenes with several objects, from Flickr",
        why="diverse everyday photos: a realistic benign negative set for false-positive rates",
        caveats="many photos show people; a few near duplicates; per-image Flickr licenses vary",
    )
)

_add(
    CatalogEntry(
        name="inria-holidays",
        title="INRIA Holidays",
        archives=(
            Archive(url="ftp://ftp.inrialpes.fr/pub/lear/douze/data/jpg1.tar.gz", sha256=None, filename="jpg1.tar.gz"),
            Archive(url="ftp://ftp.inrialpes.fr/pub/lear/douze/data/jpg2.tar.gz", sha256=None, filename="jpg2.tar.gz"),
        ),
        images_dir="jpg",
        count=1491,
        license="distributed by INRIA for research; no explicit open license found (check the dataset page)",
        attribution=(
            "H. Jegou, M. Douze, C. Schmid, Hamming Embedding and Weak Geometric Consistency for "
            "Large Scale Image Search, ECCV 2008"
        ),
        homepage="https://thoth.inrialpes.fr/~jegou/data.php.html",
        resolution="large personal holiday photos (mostly 2-8 megapixels)",
        size="about 2.8 GB for the two archives",
        contents="1,491 holiday photos in 500 groups of the same scene (first of each group is the query)",
        why="near-duplicate groups of the same scene: realistic hard negatives and same-scene positives",
        caveats=(
            "no published checksum could be verified: fetch needs --sha256 (one per archive); "
            "FTP download (no resume); some images are rotated and lack EXIF orientation"
        ),
    )
)

_add(
    CatalogEntry(
        name="inria-copydays",
        title="INRIA Copydays (originals)",
        archives=(
            Archive(
                url="http://pascal.inrialpes.fr/data/holidays/copydays_original.tar.gz",
                sha256=None,
                filename="copydays_original.tar.gz",
            ),
        ),
        images_dir="",
        count=157,
        license="distributed by INRIA for research; no explicit open license found (check the dataset page)",
        attribution="M. Douze et al., Evaluation of GIST descriptors for web-scale image search, CIVR 2009",
        homepage="https://thoth.inrialpes.fr/~jegou/data.php.html",
        resolution="large personal holiday photos",
        size="about 50 MB (originals)",
        contents=(
            "157 original photos; the copy-detection attacks (crop, jpeg, strong) are separate "
            "archives copydays_crop/jpeg/strong.tar.gz"
        ),
        why="copy-detection benchmark: originals to transform, plus published attacked versions",
        caveats=(
            "no checksum confirmed by two sources: fetch needs --sha256; the attacked sets are not "
            "in this entry (fetch them with --url ... --sha256 ... --name)"
        ),
    )
)

_add(
    CatalogEntry(
        name="openimages-v4-validation",
        title="Open Images V4, validation split (a documented subset of Open Images)",
        archives=(
            Archive(
                url="http://open-images-dataset.s3.amazonaws.com/tar/validation.tar.gz",
                sha256="515fefdf310e17e204cfe84bb3d05e53d8a6b5465ef3b9a3164383082b506df3",
                size=12844530798,
                filename="openimages-validation.tar.gz",
                checksum_source=_TFDS.format("open_images_v4"),
            ),
        ),
        images_dir="validation",
        count=None,
        license="images listed as CC BY 2.0 by Open Images (per image, from Flickr); annotations CC BY 4.0",
        attribution="Kuznetsova et al., The Open Images Dataset V4, IJCV 2020",
        homepage="https://storage.googleapis.com/openimages/web/index.html",
        resolution="mostly about 1024 px on the long side, some much larger",
        size="12.8 GB archive; about 41,620 images",
        contents="the V4 validation split: diverse Flickr photos",
        why="large diverse everyday photo set for false-positive rates at scale",
        caveats=(
            "large download; many photos show people; expected count is not fixed here "
            "(the manifest records what was extracted); use dataset.limit for a smaller run"
        ),
    )
)

_add(
    CatalogEntry(
        name="disc21-references-0",
        title="DISC21 (Image Similarity Challenge 2021), one reference shard (a documented subset)",
        archives=(Archive(url=None, sha256=None, filename="disc21-references_0.zip"),),
        images_dir="",
        count=50000,
        license=(
            "DISC21 terms accepted on Meta's download page; images come from YFCC100M under "
            "Creative Commons licenses with recognisable people filtered out"
        ),
        attribution="Douze et al., The 2021 Image Similarity Dataset and Challenge, arXiv:2106.09672",
        homepage="https://ai.meta.com/datasets/disc21-dataset/",
        resolution="varied, typically 500-1024 px",
        size="about 8 GB per 50,000-image shard",
        contents="reference shard 0 of 20 (50,000 of the 1,000,000 reference images)",
        why="copy-detection benchmark built for near-duplicate detection; benign Creative Commons photos",
        caveats=(
            "download links are signed and personal: pass --url and --sha256 (no public checksum); "
            "queries/ground truth are separate files"
        ),
        user_supplied=True,
    )
)

_add(
    CatalogEntry(
        name="imagenet-val",
        title="ImageNet (ILSVRC2012) validation images",
        archives=(
            Archive(
                url=None,
                sha256="c7e06a6c0baccf06d8dbeb6577d71efff84673a5dbdd50633ab44f8ea0456ae0",
                size=6744924160,
                filename="ILSVRC2012_img_val.tar",
                checksum_source=_TFDS.format("imagenet2012"),
            ),
        ),
        images_dir="",
        count=50000,
        license="ImageNet terms of access (non-commercial research); the user obtains the archive",
        attribution="Russakovsky et al., ImageNet Large Scale Visual Recognition Challenge, IJCV 2015",
        homepage="https://image-net.org/",
        resolution="varied, average about 400x350",
        size="6.7 GB archive, 50,000 JPEGs",
        contents="50,000 validation photos of 1,000 classes",
        why="widely used everyday photo set; lets results be compared with other work",
        caveats=(
            "you supply the archive: fetch imagenet-val --url file:///path/ILSVRC2012_img_val.tar "
            "(the catalogue checksum is then verified); known exact and near duplicates; people"
        ),
        user_supplied=True,
    )
)


def list_catalog() -> list[str]:
    """Names of the catalogue entries, sorted."""
    return sorted(CATALOG)


def get_entry(name: str) -> CatalogEntry:
    """The catalogue entry `name`, or ConfigError naming the known ones."""
    if name not in CATALOG:
        raise ConfigError("NAME", f"unknown dataset {name!r}; catalogue: {', '.join(list_catalog())}")
    return CATALOG[name]


#: environment variable for the folder of fetched datasets; the old name is still read, with a warning
ENV_DATA, ENV_DATA_OLD = "HARNESS_DATA", "PHASH_HARNESS_DATA"


def default_dest() -> str:
    """Where fetched datasets live unless --dest / dataset.dest says otherwise:
    $HARNESS_DATA, else $XDG_CACHE_HOME/phash-harness/datasets
    (~/.cache/phash-harness/datasets). The old name $PHASH_HARNESS_DATA is
    still read for one release (when HARNESS_DATA is unset), with a
    FutureWarning on stderr."""
    if os.environ.get(ENV_DATA):
        return os.environ[ENV_DATA]
    if os.environ.get(ENV_DATA_OLD):
        warnings.warn(
            f"{ENV_DATA_OLD} is deprecated and will be removed in the next release; set {ENV_DATA} instead",
            FutureWarning,
            stacklevel=2,
        )
        return os.environ[ENV_DATA_OLD]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "phash-harness", "datasets")
