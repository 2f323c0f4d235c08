"""Datasets: a registry of datasets and their splits, loaders, and member/non-member sampling.

    from securitynet.data import load_split, get_dataset, list_datasets, ArraySplit, sample_membership

    test = load_split("mnist", "test")            # ArraySplit: uint8 images (10000, 28, 28), int64 labels
    info = get_dataset("gtsrb")                   # DatasetInfo: classes, splits, member/non-member splits
    mia = sample_membership("gtsrb", 500, seed=0) # 500 members from "train", 500 non-members from "test"

Files are looked for in SECURITYNET_DATA (folders separated by os.pathsep), then ../shared/data, then the
download folder; `download_dataset(name)` fetches those whose home allows it.
"""

from securitynet.data.download import download_dataset
from securitynet.data.locate import Located, default_roots, download_root
from securitynet.data.membership import MembershipSample, disjoint_subsets, sample_membership
from securitynet.data.registry import (
    DatasetInfo,
    clear_cache,
    dataset_record,
    get_dataset,
    list_datasets,
    load_dataset_plugins,
    load_split,
    locate_split,
    register_dataset,
    resolve_member_split,
)
from securitynet.data.split import ArraySplit
from securitynet.errors import DatasetError

# Last: the dataset plug-ins (built-in first) register themselves in the registry loaded above.
load_dataset_plugins()

__all__ = [
    "ArraySplit",
    "DatasetError",
    "DatasetInfo",
    "Located",
    "MembershipSample",
    "clear_cache",
    "dataset_record",
    "default_roots",
    "disjoint_subsets",
    "download_dataset",
    "download_root",
    "get_dataset",
    "list_datasets",
    "load_split",
    "locate_split",
    "register_dataset",
    "resolve_member_split",
    "sample_membership",
]
