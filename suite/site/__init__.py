"""The static leaderboard site, rendered from the results Parquet only: it formats what suite.rank computes."""

from suite.site.data import SiteData, read_resolved_config, slug
from suite.site.formatting import Cell, Texts, format_number, number_texts
from suite.site.schema import DISPLAY_SCHEMA, LeaderboardSchema, MetricDisplay, load_schema
from suite.site.write import render_site

__all__ = [
    "DISPLAY_SCHEMA",
    "Cell",
    "LeaderboardSchema",
    "MetricDisplay",
    "SiteData",
    "Texts",
    "format_number",
    "load_schema",
    "number_texts",
    "read_resolved_config",
    "render_site",
    "slug",
]
