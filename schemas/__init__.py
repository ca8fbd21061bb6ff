"""Avro schemas for every topic's value (package data) and the file-backed registry index.

Each schema version is its own file, `<name>.v<N>.avsc`, never edited once committed;
`registry.json` maps a subject (the record's full name) to its versions and global ids.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable


def schema_dir() -> Traversable:
    return files(__name__)
