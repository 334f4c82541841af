"""zoo-example-plugin: the template a plugin author copies.

Installing this distribution makes its components appear in zoo (`zoo list backbones 'tiny*'`,
`zoo.build("tiny_motion")`, the benchmark leaderboard) with no change to zoo: each component is
declared below as an entry point in the group of its kind.
"""
from setuptools import setup

setup(
    name="zoo-example-plugin",
    version="0.1.0",
    description="Example third-party plugin for zoo: a small factorised (2+1)D network and a preset",
    packages=["zoo_example_plugin"],
    python_requires=">=3.9",
    install_requires=["zoo-video", "torch"],
    entry_points={
        "zoo.backbones": ["tiny_p3d = zoo_example_plugin.models:tiny_p3d"],
        "zoo.presets": ["tiny_motion = zoo_example_plugin.models:tiny_motion"],
    },
)
