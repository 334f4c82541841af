"""zoo: a plugin-based model zoo for video classification.

The core (`zoo`) and the first-party components (`zoo_plugins`, under plugins/) ship in one
distribution, but the components reach the registry only through the entry points below,
exactly as a third party's do (see plugins/example_plugin for a separate plugin distribution).
"""
from setuptools import find_packages, setup

# One entry point per component: "name = module:builder". Groups are documented in README.md.
ENTRY_POINTS = {
    "console_scripts": ["zoo = zoo.cli:main"],
    "zoo.backbones": [
    ],
    "zoo.temporal_heads": [
    ],
    "zoo.fusions": [
    ],
    "zoo.presets": [
    ],
    "zoo.datasets": [
        "moving_shapes = zoo.data.synthetic:moving_shapes",
    ],
    "zoo.families": [
    ],
}

setup(
    name="zoo-video",
    version="0.1.0",
    description="A plugin-based model zoo for video classification",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["zoo", "zoo.*"])
    + find_packages("plugins", include=["zoo_plugins", "zoo_plugins.*"]),
    package_dir={"zoo_plugins": "plugins/zoo_plugins"},
    include_package_data=True,
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "timm>=0.9",
        "pytorchvideo==0.1.5",
        "fvcore",
        "iopath",
        "pyyaml",
        "numpy",
        "av",
        "opencv-contrib-python-headless",
        "safetensors",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist", "hypothesis", "scikit-learn", "onnx", "onnxruntime",
                 "onnxscript"],
    },
    entry_points=ENTRY_POINTS,
)
