"""Install slowfast_atfr: `pip install -e .` or `pip install -e ".[test]"`."""

from setuptools import find_packages, setup

setup(
    name="slowfast_atfr",
    version="0.1.0",
    description="PySlowFast-style 3D CNNs with adaptive temporal feature resolutions (ATFR)",
    python_requires=">=3.9",
    packages=find_packages(exclude=("tests", "tests.*", "configs", "tools", "benchmarks")),
    package_data={"slowfast_atfr": ["data/*.txt", "config/*.json"]},
    install_requires=[
        "torch>=2.0,<3",
        "fvcore>=0.1.5",
        "iopath>=0.1.9",
        "av>=18.0",
        "simplejson",
        "numpy",
        "pyyaml",
        "tqdm",
    ],
    extras_require={
        "test": ["pytest", "scikit-video", "ruff", "matplotlib", "tensorboard", "scikit-image"],
        "plots": ["matplotlib"],
        "photos": ["scikit-image"],
        "tensorboard": ["tensorboard"],
    },
)
