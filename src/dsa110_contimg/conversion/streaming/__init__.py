"""The streaming converter: subband UVH5 files in, registered images with photometry out.

See :mod:`.streamer` for the loop, :mod:`.queue` for the restart-safe queue in the database,
:mod:`.runner` for ``contimg run`` (stream + worker + mosaic orchestrator).
"""

from .files import SubbandName, check_uvh5_file, parse_subband_name
from .queue import GroupRecord, get_group, list_groups, stream_status
from .runner import run_pipeline
from .streamer import GroupOutcome, Streamer, StreamOptions, run_stream
from .trigger import trigger_photometry_for_image

__all__ = [
    "GroupOutcome",
    "GroupRecord",
    "StreamOptions",
    "Streamer",
    "SubbandName",
    "check_uvh5_file",
    "get_group",
    "list_groups",
    "parse_subband_name",
    "run_pipeline",
    "run_stream",
    "stream_status",
    "trigger_photometry_for_image",
]
