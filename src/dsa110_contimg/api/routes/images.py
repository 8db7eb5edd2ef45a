"""Image and mosaic endpoints: list, detail, measurements, PNG preview, FITS/PNG cutouts."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ...errors import NotFoundError
from ..deps import Page, engine_dep, page_params
from ..encoding import SafeJSONResponse, rows_to_csv
from ..queries import MEASUREMENT_COLUMNS, get_image_record, image_photometry, list_images

router = APIRouter(tags=["images"])

RA = Query(ge=-360.0, le=360.0, allow_inf_nan=False, description="Right ascension, degrees.")
DEC = Query(ge=-90.0, le=90.0, allow_inf_nan=False, description="Declination, degrees.")
SIZE = Query(2.0, gt=0.0, le=600.0, allow_inf_nan=False, description="Cutout side, arcmin.")


def _file(rec: dict) -> Path:
    path = Path(rec["path"])
    if not path.is_file():
        raise NotFoundError("the product's file is missing", path=path)
    return path


def _members(engine, data_id: str) -> list[str] | None:
    """Member images of a mosaic (from ``mosaic_members``)."""
    from ...database.mosaics import mosaic_member_ids

    return mosaic_member_ids(engine, data_id)


def _add_routes(prefix: str, kind: str) -> None:
    label = "mosaics" if kind == "mosaic" else "images"

    @router.get(prefix, name=f"list_{label}", summary=f"List {label}")
    def list_(page: Page = Depends(page_params), engine=Depends(engine_dep)):
        return SafeJSONResponse(list_images(engine, page, kind=kind))

    @router.get(
        prefix + "/{data_id:path}/photometry",
        name=f"{label}_photometry",
        summary=f"Measurements on one of the {label} (JSON or CSV)",
    )
    def photometry(
        data_id: str,
        format: str = Query("json", pattern="^(json|csv)$"),
        page: Page = Depends(page_params),
        engine=Depends(engine_dep),
    ):
        get_image_record(engine, data_id, kind=kind)
        if format == "csv":
            rows = image_photometry(engine, data_id)["items"]
            return Response(
                rows_to_csv(MEASUREMENT_COLUMNS, rows),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{data_id}-photometry.csv"'},
            )
        return SafeJSONResponse(image_photometry(engine, data_id, page))

    @router.get(
        prefix + "/{data_id:path}/preview.png",
        name=f"{label}_preview",
        summary="PNG preview with measured positions overlaid",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    async def preview(
        request: Request,
        data_id: str,
        overlay: bool = True,
        max_side: int = Query(800, ge=64, le=4096),
        engine=Depends(engine_dep),
    ):
        from ..render import preview_png

        settings = request.app.state.settings
        max_side = min(max_side, settings.api.max_cutout_pixels)
        rec = await run_in_threadpool(get_image_record, engine, data_id, kind=kind)
        path = _file(rec)

        from ...database.products import photometry_positions

        positions = (
            await run_in_threadpool(photometry_positions, engine, data_id) if overlay else []
        )
        key = ("preview", str(path), path.stat().st_mtime_ns, len(positions), max_side, overlay)
        png = await run_in_threadpool(
            request.app.state.render_cache.get_or_make,
            key,
            lambda: preview_png(path, positions=positions, max_side=max_side, title=data_id),
        )
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=60"})

    def cutout_target(
        request: Request,
        data_id: str,
        engine=Depends(engine_dep),
        ra_deg: float = RA,
        dec_deg: float = DEC,
        size_arcmin: float = SIZE,
    ):
        """Resolve the image file and cutout geometry shared by both cutout formats."""
        path = _file(get_image_record(engine, data_id, kind=kind))
        return (
            path,
            data_id,
            dict(
                ra_deg=ra_deg % 360.0,
                dec_deg=dec_deg,
                size_arcmin=size_arcmin,
                max_pixels=request.app.state.settings.api.max_cutout_pixels,
            ),
        )

    @router.get(
        prefix + "/{data_id:path}/cutout.fits",
        name=f"{label}_cutout_fits",
        summary="FITS cutout around a position (celestial WCS kept)",
        response_class=Response,
        responses={200: {"content": {"application/fits": {}}}},
    )
    def cutout_fits_(target=Depends(cutout_target)):
        from ..render import cutout_fits

        path, data_id, geo = target
        data = cutout_fits(
            path,
            geo["ra_deg"],
            geo["dec_deg"],
            size_arcmin=geo["size_arcmin"],
            max_pixels=geo["max_pixels"],
        )
        name = f"{data_id}_{geo['ra_deg']:.4f}_{geo['dec_deg']:+.4f}.fits".replace("/", "_")
        return Response(
            data,
            media_type="application/fits",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get(
        prefix + "/{data_id:path}/cutout.png",
        name=f"{label}_cutout_png",
        summary="PNG cutout around a position",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}},
    )
    def cutout_png_(
        request: Request,
        target=Depends(cutout_target),
        annotate: bool = Query(
            False, description="Scale bar, beam ellipse and colour bar (the source page's strip)."
        ),
        overlay: bool = Query(False, description="Circle the other measured sources."),
        title: str | None = Query(None, max_length=40, description="Caption (default: data_id)."),
        engine=Depends(engine_dep),
    ):
        from ..render import cutout_png

        path, data_id, geo = target
        positions: list = []
        if overlay:
            from ...database.source_lists import list_sources

            with engine.connect() as conn:
                near, _ = list_sources(
                    conn,
                    cone=(geo["ra_deg"], geo["dec_deg"], geo["size_arcmin"] / 60 * 0.75),
                    sort="separation",
                    order="asc",
                    limit=500,
                )
            positions = [(r["ra_deg"], r["dec_deg"]) for r in near if r["separation_deg"] > 1e-4]
        key = (
            "cutout",
            str(path),
            path.stat().st_mtime_ns,
            annotate,
            title,
            tuple(positions),
            *sorted(geo.items()),
        )
        png = request.app.state.render_cache.get_or_make(
            key,
            lambda: cutout_png(
                path,
                geo["ra_deg"],
                geo["dec_deg"],
                title=title if title is not None else data_id,
                size_arcmin=geo["size_arcmin"],
                max_pixels=geo["max_pixels"],
                annotate=annotate,
                positions=positions,
            ),
        )
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @router.get(prefix + "/{data_id:path}", name=f"get_{label}", summary=f"One of the {label}")
    def detail(data_id: str, engine=Depends(engine_dep)):
        rec = get_image_record(engine, data_id, kind=kind)
        if kind == "mosaic":
            rec["member_data_ids"] = _members(engine, data_id)
        return SafeJSONResponse(rec)


_add_routes("/api/images", "image")
_add_routes("/api/mosaics", "mosaic")
