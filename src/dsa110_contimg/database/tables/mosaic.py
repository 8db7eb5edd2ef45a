"""Tables of the mosaic area (migration 0004).

``mosaics`` describes each registered mosaic (its row in ``images`` has ``kind = "mosaic"``
and the same ``data_id``), ``mosaic_members`` lists the images that went into it.
``mosaic_groups`` tracks the orchestrator's groups of consecutive images from formation to
photometry, with ``mosaic_group_members`` listing their images in time order.
Bookkeeping times are Unix seconds; observation times MJD (UTC).
"""

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from ._meta import metadata

__all__ = ["mosaic_group_members", "mosaic_groups", "mosaic_members", "mosaics"]

mosaics = Table(
    "mosaics",
    metadata,
    Column("data_id", String(200), primary_key=True),  # same data_id as in images/registry
    Column("path", Text, nullable=False, unique=True),
    Column("n_images", Integer, nullable=False),
    Column("weight_path", Text),
    Column("noise_path", Text),
    Column("bmaj_deg", Float),  # common restoring beam
    Column("bmin_deg", Float),
    Column("bpa_deg", Float),
    Column("mjd_start", Float),
    Column("mjd_end", Float),
    Column("created_at", Float, nullable=False),
)

mosaic_members = Table(
    "mosaic_members",
    metadata,
    Column(
        "mosaic_data_id",
        String(200),
        ForeignKey("mosaics.data_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("member_data_id", String(200), primary_key=True),
    Column("position", Integer, nullable=False),  # order of the inputs (time order)
    Index(None, "member_data_id"),
)

mosaic_groups = Table(
    "mosaic_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # pending -> building -> built (mosaic written and registered) | failed; abandoned
    Column("status", String(16), nullable=False),
    Column("n_images", Integer, nullable=False),
    Column("mjd_first", Float),  # mid time of the first / last member
    Column("mjd_last", Float),
    Column("dec_deg", Float),  # declination strip (centre of the first member)
    Column("complete", Integer, nullable=False, server_default="1"),  # 1: full-size group
    Column("mosaic_path", Text),
    Column("mosaic_data_id", String(200)),
    Column("photometry_job_id", Integer),
    Column("reason", Text),  # why the group was closed early, abandoned or failed
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("built_at", Float),
    Index(None, "status"),
)

mosaic_group_members = Table(
    "mosaic_group_members",
    metadata,
    Column(
        "group_id",
        Integer,
        ForeignKey("mosaic_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("data_id", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("mjd_mid", Float),
    Index(None, "data_id"),
)
