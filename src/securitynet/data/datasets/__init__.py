"""Built-in datasets (the table in `datasets.table`), registered when this package is imported."""

from securitynet.data.datasets.table import builtin_datasets
from securitynet.data.registry import register_dataset

for _info in builtin_datasets():
    register_dataset(_info)
