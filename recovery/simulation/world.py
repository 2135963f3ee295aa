"""The World contract under its earlier import path: this module *is*
``recovery.sandbox.world.contract``, so both names give the very same classes."""

import sys

from recovery.sandbox.world import contract

sys.modules[__name__] = contract
