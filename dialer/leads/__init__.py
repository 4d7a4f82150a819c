"""Lead import: CSV files in UTF-8, UTF-8 with BOM or GBK, a column mapping, numbers
normalised, and a per-row report of what was rejected (or kept as DNC) and why.

    report = await import_leads(store, campaign, campaign_id, "leads.csv", dnc=dnc,
                                mapping=parse_map("number=Phone,name=Name"),
                                now=now, actor="cli:ops")
"""

from dialer.leads.encoding import ENCODINGS, Detected, Encoding, codec_of, detect_encoding
from dialer.leads.importer import (
    CHUNK_ROWS,
    REPORT_COLUMNS,
    LeadImportReport,
    RowProblem,
    RowReport,
    import_leads,
)
from dialer.leads.mapping import FIELDS, USUAL_HEADERS, Columns, parse_map, resolve_columns

__all__ = [  # noqa: RUF022 (plain sorted(), as tests/test_public_surface.py checks)
    "CHUNK_ROWS",
    "Columns",
    "Detected",
    "ENCODINGS",
    "Encoding",
    "FIELDS",
    "LeadImportReport",
    "REPORT_COLUMNS",
    "RowProblem",
    "RowReport",
    "USUAL_HEADERS",
    "codec_of",
    "detect_encoding",
    "import_leads",
    "parse_map",
    "resolve_columns",
]
