"""What a calibration set is on disk: read, fingerprint, write, card, catalogue, Hub.

    from curate.sets.read import load_set
    cs = load_set("out/default/v1.0.0")          # verified against its manifest's fingerprint

Modules: :mod:`~curate.sets.read` (the layout of a version folder and reading any set),
:mod:`~curate.sets.fingerprint` (the content hash and verifying a version's files),
:mod:`~curate.sets.write` (writing a version atomically and durably), :mod:`~curate.sets.card`
(the README.md dataset card), :mod:`~curate.sets.catalog` (``curate list/show/diff``) and
:mod:`~curate.sets.hub` (``curate publish``).
"""
