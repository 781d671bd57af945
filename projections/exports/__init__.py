"""What auditors and statisticians open, derived from the verified ledger only.

:mod:`~projections.exports.source` opens the ledger as one verified snapshot
(:func:`verified_source`); every export (CDISC ODM, SDTM as Dataset-JSON and SAS transport,
pictures, the inspection report) reads that and names the position and root it shows.
"""

from projections.exports.source import ExportSource, SignedEvent, verified_source

__all__ = ["ExportSource", "SignedEvent", "verified_source"]
