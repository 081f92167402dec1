"""Packages for setuptools; everything else is in pyproject.toml.

Only here because pyproject.toml cannot both find the packages and add more: ``conf/`` stays at
the top of the checkout (the Hydra tree the docs and train.py show) and ships in the wheel as
``seg_f1/conf``, where ``seg_f1.CONF_DIR`` finds it after a non-editable install.
"""

from setuptools import find_namespace_packages, setup

CONF = ["seg_f1.conf", *(f"seg_f1.conf.{group}" for group in find_namespace_packages("conf"))]

setup(
    packages=[*find_namespace_packages(include=["seg_f1*", "hydra_plugins*"]), *CONF],
    package_dir={"seg_f1.conf": "conf"},
    package_data={package: ["*.yaml"] for package in CONF},
)
