"""The monitor's pages: server-rendered HTML, no build step (see ledger.server).

:mod:`~ledger.server.pages.routes` serves them; :mod:`~ledger.server.pages.data` reads what
each shows through the shared query layer; :mod:`~ledger.server.pages.facts`,
:mod:`~ledger.server.pages.timeline` and :mod:`~ledger.server.pages.shapes` prepare a
subject's timeline (pure); :mod:`~ledger.server.pages.status` says how what a page shows is
verified; :mod:`~ledger.server.pages.render` renders the Jinja2 templates (autoescaped).
"""

from __future__ import annotations

from ledger.server.pages.routes import router

__all__ = ["router"]
