"""Tables of the calibration area (migration 0007).

``caltables`` holds one row per calibration solution set: the delay (K), bandpass (B) and gain
(G) tables solved on one calibrator transit, the validity window (transit +- the configured
hours), the solution QA and a status: ``valid`` or ``refused`` (with the reason; a refused set
is kept for the record and never applied). The per-antenna delays and gain amplitudes are kept
(JSON lists) so the next transit can be compared with this one without reading the tables.

The calibration state of each product is in ``data_registry`` (``calibration_status``,
``caltable_id``, ``superseded_by``; see :mod:`.products`) and of each stream group in
``stream_groups``. Observation times are MJD (UTC), bookkeeping times Unix seconds.
"""

from sqlalchemy import Column, Float, Index, Integer, String, Table, Text

from ._meta import metadata

__all__ = ["CALIBRATION_STATUSES", "CALTABLE_STATUSES", "caltables"]

#: Values of ``data_registry.calibration_status`` (NULL: registered before calibration
#: existed, read as ``precalibrated``).
CALIBRATION_STATUSES = ("calibrated", "precalibrated", "uncalibrated")
#: Values of ``caltables.status``.
CALTABLE_STATUSES = ("valid", "refused")

caltables = Table(
    "caltables",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("calibrator", String(64), nullable=False),
    Column("transit_mjd", Float, nullable=False),
    Column("valid_from_mjd", Float, nullable=False),
    Column("valid_until_mjd", Float, nullable=False),
    Column("group_key", String(64)),  # the stream group the solution was solved on
    Column("ms_path", Text),
    Column("k_path", Text),
    Column("b_path", Text),
    Column("g_path", Text),
    Column("channel_mask_path", Text),  # .npy: channels flagged on the calibrator
    Column("snr_median", Float),
    Column("flagged_fraction", Float),
    Column("antennas_flagged", Text),  # JSON list of antenna numbers
    Column("n_antennas", Integer),
    Column("delay_scatter_ns", Float),
    Column("antenna_delays_ns", Text),  # JSON list, per antenna (NaN -> null)
    Column("antenna_gain_amps", Text),  # JSON list, per antenna
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("created_at", Float, nullable=False),
    Index(None, "status", "transit_mjd"),
)
