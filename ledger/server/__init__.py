"""``trial-ledger serve``: the ledger over HTTP for consumers, monitors and remote site staff.

An ASGI application (FastAPI on uvicorn) made by :func:`ledger.server.app.create_app`:

* :mod:`ledger.server.api.log`: the signed log itself (events after a position with their
  leaves, commits, the latest checkpoint as a C2SP signed note, RFC 9162 proofs);
* :mod:`ledger.server.api.projections`: subjects, a subject's state and response history (as
  of a time or position, on a clinical date), the audit trail (JSON and CSV), the summary;
* :mod:`ledger.server.api.feed`: server-sent events announcing each commit and checkpoint;
* :mod:`ledger.server.api.recording`: the recording commands, signed on the caller's side;
* :mod:`ledger.server.access`: who is calling (RFC 9421 signed requests with registered keys,
  short-lived tokens), what their role and site let them see, and the log of reads;
* :mod:`ledger.server.pages`: the monitor's server-rendered HTML pages.

Errors are RFC 9457 problem details (:mod:`ledger.server.problems`). The server trusts
nothing it is handed and holds no person's private key.
"""
