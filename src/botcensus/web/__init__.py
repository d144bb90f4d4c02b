"""The dashboard and JSON API over measure/ results: public aggregates (small cells
suppressed), each network owner's infected hosts (token-scoped, audited), the operator's view
of the sinkhole, feeds and quarantine. No measurement of its own: census answers come from
measure.rollups or measure.census_run, host estimates and clean-up from the products
`botcensus rollup` keeps. See docs/web.md.

    app = create_app(Path("DIR"))          # an ASGI app (FastAPI)
"""

from botcensus.web.app import create_app
from botcensus.web.notices import Notice, NoticeAddress, NoticePage, NoticeQuery, NoticeReader
from botcensus.web.scope import Scope

__all__ = [
    "Notice",
    "NoticeAddress",
    "NoticePage",
    "NoticeQuery",
    "NoticeReader",
    "Scope",
    "create_app",
]
