"""The ``twinland`` command: serve, load or build scenes, run workers, export the schema."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from backend.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="twinland backend")
scenes_app = typer.Typer(no_args_is_help=True, help="Scene content.")
schema_app = typer.Typer(no_args_is_help=True, help="The GraphQL schema.")
assets_app = typer.Typer(no_args_is_help=True, help="The asset pipeline.")
accounts_app = typer.Typer(no_args_is_help=True, help="Organiser, moderator and admin accounts.")
app.add_typer(scenes_app, name="scenes")
app.add_typer(schema_app, name="schema")
app.add_typer(assets_app, name="assets")
app.add_typer(accounts_app, name="accounts")

DEFAULT_SCHEMA_PATH = Path("graphql/schema.graphql")


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        typer.echo(f"configuration error: {error}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    scenes: Annotated[
        list[Path] | None,
        typer.Option("--scenes", help="Scene folders (or a folder of them) to load first."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Overrides TWINLAND_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides TWINLAND_PORT.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Server processes sharing the port, one per core (more than 1 needs "
            "TWINLAND_REDIS_URL: they share live sessions, quotas and jobs through it)."
        ),
    ] = 1,
) -> None:
    """Run the HTTP server (GraphQL at /graphql)."""
    from backend.serving import ServingError
    from backend.serving import serve as run

    settings = _settings()
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"twinland serving on http://{host}:{port}/graphql ({settings.mode.value} mode)")
    try:
        run(settings, scenes or [], host, port, workers)
    except ServingError as error:
        typer.echo(f"configuration error: {error}", err=True)
        raise typer.Exit(2) from None


@scenes_app.command("load")
def scenes_load(
    paths: Annotated[list[Path], typer.Argument(help="Scene folders, or folders of them.")],
) -> None:
    """Validate and load scenes in one transaction: all of them, or none."""
    from backend.asset_store import LocalAssetStore
    from backend.scenes.loader import load_scenes
    from backend.scenes.parse import ManifestErrors
    from backend.store.engine import create_engine, migrate
    from backend.store.sql_store import SqlStore

    settings = _settings()

    async def run() -> None:
        engine = create_engine(settings.resolved_database_url)
        try:
            await migrate(engine)
            report = await load_scenes(
                SqlStore(engine),
                LocalAssetStore(settings.asset_dir),
                paths,
                settings.resolved_build_cache_dir,
            )
        finally:
            await engine.dispose()
        typer.echo(
            f"loaded {len(report.scenes)} scene(s) {', '.join(report.scenes)}: "
            f"{report.pois} POIs, {report.tours} tours, "
            f"{report.live_sessions_created} new live sessions "
            f"({report.pois_removed} POIs and {report.tours_removed} tours removed)"
        )

    try:
        asyncio.run(run())
    except ManifestErrors as errors:
        typer.echo(f"nothing loaded: {len(errors.errors)} problem(s)", err=True)
        for error in errors.errors:
            typer.echo(f"  {error.message}", err=True)
        raise typer.Exit(1) from None


@scenes_app.command("build")
def scenes_build(
    folder: Annotated[Path, typer.Argument(help="One scene folder (scenes/<slug>).")],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Build a scene's sources through the asset pipeline and publish a new version
    (atomically; unchanged layers are reused, an unchanged scene makes no version)."""
    from backend.domain.errors import DomainError
    from backend.domain.publishing import JobStatus
    from backend.publishing.commands import build_scene_folder, describe
    from backend.scenes.parse import ManifestErrors

    settings = _settings()
    try:
        job = asyncio.run(build_scene_folder(settings, folder, progress))
    except ManifestErrors as errors:
        typer.echo(f"nothing published: {len(errors.errors)} problem(s)", err=True)
        for error in errors.errors:
            typer.echo(f"  {error.message}", err=True)
        raise typer.Exit(1) from None
    except DomainError as error:
        typer.echo(f"nothing published: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(describe(job), err=job.status is not JobStatus.SUCCEEDED)
    if job.status is not JobStatus.SUCCEEDED:
        raise typer.Exit(1)


@app.command()
def worker() -> None:
    """Run publish jobs from the Redis queue (TWINLAND_REDIS_URL) until interrupted;
    start as many as there are machines to share the asset pipeline's work."""
    from backend.publishing.commands import run_worker

    settings = _settings()
    if not settings.redis_url:
        typer.echo("twinland worker needs TWINLAND_REDIS_URL (jobs run in-process without)")
        raise typer.Exit(2)
    typer.echo(f"twinland worker: publish jobs from {settings.redis_url}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(settings))


@schema_app.command("export")
def schema_export(
    out: Annotated[Path, typer.Option(help="Where to write the SDL; '-' for stdout.")] = (
        DEFAULT_SCHEMA_PATH
    ),
    check: Annotated[
        bool, typer.Option(help="Fail if the file differs instead of writing it.")
    ] = False,
) -> None:
    """Write the GraphQL SDL generated from the code."""
    from backend.api.schema import schema_sdl

    sdl = schema_sdl()
    if str(out) == "-":
        sys.stdout.write(sdl)
        return
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current != sdl:
            typer.echo(f"{out} is stale: run `twinland schema export`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out} is current")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(sdl, encoding="utf-8")
    typer.echo(f"wrote {out}")


class AssetProfile(str, Enum):
    DESKTOP = "desktop"
    MOBILE = "mobile"
    VR = "vr"


class AssetCodec(str, Enum):
    MESHOPT = "meshopt"
    DRACO = "draco"
    NONE = "none"
    AUTO = "auto"


@assets_app.command("build")
def assets_build(
    inputs: Annotated[list[Path], typer.Argument(help="GLB, glTF, OBJ, PLY or STL files.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (manifest.json + GLBs).")],
    profile: Annotated[AssetProfile, typer.Option(help="Client tier.")] = AssetProfile.DESKTOP,
    codec: Annotated[
        AssetCodec, typer.Option(help="Geometry codec; auto picks the smaller after brotli.")
    ] = AssetCodec.MESHOPT,
    jobs: Annotated[int | None, typer.Option(help="Assets built at once (default: CPUs).")] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            help="WGS84 'lat,lon,height' of the inputs' origin: also write a 3D Tiles "
            "tileset per asset (<stem>.tileset.json)."
        ),
    ] = None,
    tile_triangles: Annotated[
        int | None,
        typer.Option(
            min=1000,
            help="With --origin: split assets larger than this into a quadtree of tiles "
            "of at most this many triangles (<stem>.tiles.json).",
        ),
    ] = None,
) -> None:
    """Compress meshes and textures into validated, LOD-chained GLB files."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from assets_pipeline.batch import run_batch

    place = _parse_origin(origin) if origin is not None else None
    if tile_triangles is not None and place is None:
        raise typer.BadParameter(
            "tiles are placed on the globe: give --origin", param_hint="--tile-triangles"
        )

    steps = [
        "read",
        "merge",
        "sanitize",
        "simplify",
        "optimize",
        "textures",
        "encode",
        "measure",
        "tiles",
    ]
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
    ) as bar:
        tasks = {
            path.name: bar.add_task(path.name, total=len(steps), step="queued") for path in inputs
        }

        def progress(name: str, step: str) -> None:
            task = tasks.get(name)
            if task is None:
                return
            if step in steps:
                bar.update(task, completed=steps.index(step), step=step)
            else:  # built | cached | failed
                bar.update(task, completed=len(steps), step=step)

        report = run_batch(
            inputs,
            out,
            profile=profile.value,
            codec=codec.value,
            jobs=jobs,
            progress=progress,
            origin=place,
            tile_triangles=tile_triangles,
        )
    for outcome in report.outcomes:
        if outcome.status == "failed":
            typer.echo(f"FAILED {outcome.name}: [{outcome.error_code}] {outcome.error}", err=True)
    built = sum(1 for o in report.outcomes if o.status == "built")
    cached = sum(1 for o in report.outcomes if o.status == "cached")
    typer.echo(
        f"{built} built, {cached} unchanged, {len(report.failed)} failed: {out / 'manifest.json'}"
    )
    if report.failed:
        raise typer.Exit(1)


def _parse_origin(text: str) -> tuple[float, float, float]:
    try:
        lat, lon, height = (float(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(
            "use 'lat,lon,height', e.g. 35.1880,129.2230,20", param_hint="--origin"
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise typer.BadParameter(f"{lat},{lon} is not a WGS84 position", param_hint="--origin")
    return lat, lon, height


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="The account's e-mail (its sign-in name).")],
    grant: Annotated[
        list[str],
        typer.Option(help='A role, once per grant: "admin", "organiser:gokseong", …'),
    ],
) -> None:
    """Create an account; the password is read from standard input (or prompted for), so it
    never appears in the shell history or the process list."""
    from datetime import UTC, datetime

    from backend.domain.errors import DomainError
    from backend.domain.identity import Grant
    from backend.services.identity import create_account
    from backend.store.engine import create_engine, migrate
    from backend.store.sql_store import SqlStore

    settings = _settings()
    if sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")

    async def run() -> str:
        engine = create_engine(settings.resolved_database_url)
        try:
            await migrate(engine)
            grants = [Grant.parse(text, f"--grant {text}") for text in grant]
            created = await create_account(
                SqlStore(engine).identities, email, password, grants, datetime.now(UTC)
            )
            return created.id
        finally:
            await engine.dispose()

    try:
        account_id = asyncio.run(run())
    except DomainError as error:
        typer.echo(f"not created: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {account_id} ({email}: {', '.join(grant)})")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
