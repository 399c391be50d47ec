"""Support code for the tests (and benchmarks) that the runtime package must not carry.

The tests folder is on ``sys.path`` when pytest runs (like ``pipeline_fixtures``), so test modules import
``from support.scoring import score_clv``.
"""
