"""The rule families. Importing this package registers every rule (see sqlmig.lint.registry)."""

from sqlmig.lint.rules import (  # noqa: F401  (each module registers its rules)
    compat,
    constraints,
    data,
    design,
    destructive,
    indexes,
    locks,
    operational,
    partitions,
    project,
    rewrites,
    transactions,
)
