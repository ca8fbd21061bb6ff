"""The `synthguard` command."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from synthguard.errors import SynthguardError
from synthguard.settings import EMBEDDED, Settings, load_settings
from synthguard.streams import catalog


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(overrides={"broker": args.broker})


def _external_bootstrap(settings: Settings, command: str) -> str:
    if settings.broker == EMBEDDED:
        raise SynthguardError(
            f"`synthguard {command}` needs a running broker: start one with `synthguard broker`"
            " and pass --broker kafka://HOST:PORT (or set SYNTHGUARD_BROKER)"
        )
    return settings.bootstrap


def cmd_broker(args: argparse.Namespace) -> int:
    from synthguard.streams.broker import main_serve

    return main_serve(args.port)


def cmd_topics(args: argparse.Namespace) -> int:
    from synthguard.streams.admin import create_topics

    settings = _settings(args)
    for result in create_topics(settings, _external_bootstrap(settings, "topics create")):
        state = "created" if result.created else "exists"
        note = f"  ({result.note})" if result.note else ""
        print(f"{state:8} {result.name:22} partitions={result.partitions}{note}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from synthguard.streams.app import Group, run_worker

    settings = _settings(args)
    run_worker(
        settings,
        _external_bootstrap(settings, "worker"),
        web_port=args.web_port,
        loglevel=args.loglevel,
        group=Group(args.group),
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from synthguard.streams.runner import run_pipeline

    settings = _settings(args)

    def progress(message: str) -> None:
        print(f"· {message}", file=sys.stderr, flush=True)

    summary = run_pipeline(
        settings, workers=args.workers, timeout_s=args.timeout, progress=progress
    )
    if args.json:
        print(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print(summary.table())
    return 0 if not summary.unaccounted else 1


def _publish(args: argparse.Namespace, spec: catalog.TopicSpec, command: str) -> int:
    """Validate a JSON Lines file against the topic's schema and write it; bad lines by number."""
    from synthguard.streams.client import TopicWriter, read_record_file

    settings = _settings(args)
    records, bad = read_record_file(spec, Path(args.file))
    for line in bad:
        print(f"{args.file}:{line.line}: {line.error}", file=sys.stderr)
    if bad and not args.skip_bad:
        print(
            f"nothing written: {len(bad)} bad line(s) (--skip-bad writes the rest)",
            file=sys.stderr,
        )
        return 1
    writer = TopicWriter(settings, _external_bootstrap(settings, command))
    for record in records:
        writer.write(spec, record)
    writer.close()
    print(f"wrote {len(records)} record(s) to {spec.name}")
    return 0 if not bad else 1


def cmd_submit(args: argparse.Namespace) -> int:
    return _publish(args, catalog.ARTIFACTS_SUBMITTED, "submit")


def cmd_review(args: argparse.Namespace) -> int:
    """A reviewer's decision on a held artifact (Art. 10 manual review), onto review.decisions."""
    from synthguard.records import new_id, now_ms
    from synthguard.streams.client import TopicWriter, record_from_json

    decision = record_from_json(
        catalog.REVIEW_DECISIONS,
        {
            "decision_id": new_id("decision"),
            "artifact_id": args.artifact_id,
            "reviewer_id": args.reviewer,
            "decision": "PUBLISH" if args.publish else "BLOCK",
            "strike": args.strike,
            "category": args.category,
            "note": args.note,
            "decided_at": now_ms(),
        },
    )
    if args.strike and args.publish:
        raise SynthguardError("--strike goes with --block")
    settings = _settings(args)
    writer = TopicWriter(settings, _external_bootstrap(settings, "review"))
    writer.write(catalog.REVIEW_DECISIONS, decision)
    writer.close()
    print(
        f"{decision['decision']} {args.artifact_id} by {args.reviewer}: {decision['decision_id']}"
    )
    return 0


def _registry_topic(name: str) -> catalog.TopicSpec:
    try:
        spec = catalog.topic(name)
    except KeyError as exc:
        raise SynthguardError(str(exc.args[0])) from None
    if spec.cleanup is not catalog.Cleanup.COMPACT:
        raise SynthguardError(f"{name} is not a registry (compacted) topic")
    return spec


def cmd_registry_check(args: argparse.Namespace) -> int:
    """Art. 13: what an app distribution platform verifies before listing a deep synthesis
    app: its security assessments and algorithm filing. Exit 0 compliant, 1 not."""
    from synthguard.gates import service_status
    from synthguard.records import now_ms
    from synthguard.streams.client import read_registry

    settings = _settings(args)
    services = read_registry(
        settings, _external_bootstrap(settings, "registry check"), catalog.REGISTRY_SERVICES
    )
    status = service_status(args.service, services.get(args.service), now_ms()).as_dict()
    print(orjson.dumps(status, option=orjson.OPT_INDENT_2).decode())
    return 0 if status["registered"] and status["compliant"] else 1


def cmd_registry(args: argparse.Namespace) -> int:
    if args.action == "check":
        return cmd_registry_check(args)
    spec = _registry_topic(args.topic)
    if args.action == "put":
        return _publish(args, spec, "registry put")
    from synthguard.streams.client import TopicWriter

    settings = _settings(args)
    writer = TopicWriter(settings, _external_bootstrap(settings, "registry delete"))
    for key in args.keys:
        writer.write(spec, None, key=key)  # a tombstone: compaction forgets the entry
    writer.close()
    print(f"deleted {len(args.keys)} key(s) from {spec.name}")
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from synthguard.streams.client import TopicReader, decode_message

    settings = _settings(args)
    try:
        spec = catalog.topic(args.topic)
    except KeyError as exc:
        raise SynthguardError(str(exc.args[0])) from None
    reader = TopicReader(
        settings,
        _external_bootstrap(settings, "tail"),
        [spec.name],
        from_beginning=args.from_beginning,
    )
    try:
        for message in reader.messages(args.timeout):
            key = (message.key() or b"").decode("utf-8", "replace")
            record = decode_message(spec, message)
            if args.json:
                line = {
                    "topic": message.topic(),
                    "partition": message.partition(),
                    "offset": message.offset(),
                    "key": key,
                    "value": record,
                }
                print(orjson.dumps(line, default=_json_default).decode(), flush=True)
            else:
                print(f"{message.partition()}@{message.offset()} {key}: {record}", flush=True)
    finally:
        reader.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from synthguard.audit import history_table, parse_window
    from synthguard.streams.audit import artifact_history, export

    settings = _settings(args)
    if args.target != "export":
        if args.since or args.until or args.out:
            raise SynthguardError("--since, --until and --out go with `synthguard audit export`")
        records = artifact_history(settings, _external_bootstrap(settings, "audit"), args.target)
        if not records:
            print(
                f"no audit records for artifact {args.target} on {catalog.AUDIT_LOG.name}",
                file=sys.stderr,
            )
            return 1
        if args.json:
            for record in records:
                print(orjson.dumps(record).decode())
        else:
            print(history_table(records))
        return 0
    if args.since is None or args.until is None or args.json:
        raise SynthguardError(
            "`synthguard audit export` needs --since and --until (it always writes JSON Lines)"
        )
    since_ms, until_ms = parse_window(args.since, args.until)
    bootstrap = _external_bootstrap(settings, "audit export")
    if args.out is None:
        count = export(settings, bootstrap, since_ms, until_ms, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        # Written aside and renamed: a failed export never leaves a partial file under --out.
        part = Path(f"{args.out}.part")
        with part.open("wb") as out:
            count = export(settings, bootstrap, since_ms, until_ms, out)
        part.replace(args.out)
    print(f"exported {count} audit record(s), {args.since} <= at < {args.until}", file=sys.stderr)
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError


def _file_kind(path: Path) -> str:
    """image / scene / video / audio / text, from the bytes first (a .txt that is really a PNG
    is an image); only the header is read, so a long video costs nothing here."""
    from synthguard.media.av_io import probe_kind
    from synthguard.media.image_io import sniff_format

    with path.open("rb") as file:
        head = file.read(4096)
    if sniff_format(head) is not None:
        return "image"
    if head[:4] == b"glTF" or path.suffix.lower() in {".gltf", ".glb"}:
        return "scene"
    return probe_kind(path) or "text"


def cmd_label(args: argparse.Namespace) -> int:
    from synthguard.labeling import EXPLICIT_LABEL_KINDS

    settings = _settings(args)
    source = Path(args.file)
    explicit = args.service_kind in EXPLICIT_LABEL_KINDS
    produce_id = args.produce_id or source.name
    kind = _file_kind(source)
    if kind == "video":
        return _label_video(args, settings, source, explicit=explicit, produce_id=produce_id)
    if kind == "audio":
        from synthguard.labels.audio import label_audio

        audio = label_audio(
            source,
            Path(args.out),
            produce_id=produce_id,
            producer=settings.producer_id,
            keyring=settings.keyring(),
            cue=explicit,
            limits=settings.media_limits(),
        )
        print(
            f"labeled {args.out}: format={audio.format} watermark={audio.watermark_id:016x} "
            f"explicit={explicit} ProduceID={audio.record.produce_id} sha256={audio.digest_hex}"
        )
        return 0
    data = source.read_bytes()
    if kind == "text":
        return _label_text(args, settings, source, data, explicit=explicit, produce_id=produce_id)
    if kind == "image":
        from synthguard.labels.image import label_image

        image = label_image(
            data,
            produce_id=produce_id,
            producer=settings.producer_id,
            keyring=settings.keyring(),
            notice=settings.image_label_text if explicit else None,
            corner=settings.image_notice_corner,
            max_pixels=settings.max_image_pixels,
        )
        out, record, digest = image.data, image.record, image.digest_hex
        wm = image.watermark_id
        extra = f"format={image.format} watermark=" + (
            "none (under one 128 px tile)" if wm is None else f"{wm:016x}"
        )
    else:
        from synthguard.labels.scene import label_scene

        scene = label_scene(
            data,
            produce_id=produce_id,
            producer=settings.producer_id,
            keyring=settings.keyring(),
            prompt=settings.scene_prompt if explicit else None,
        )
        out, record, digest, extra = scene.data, scene.record, scene.digest_hex, "glTF"
    Path(args.out).write_bytes(out)
    print(
        f"labeled {args.out}: {extra} explicit={explicit} "
        f"ProduceID={record.produce_id} sha256={digest}"
    )
    return 0


def _label_video(
    args: argparse.Namespace, settings: Settings, source: Path, *, explicit: bool, produce_id: str
) -> int:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from synthguard.labels.video import label_video

    # Segments are labeled in `media_workers` processes, as a pipeline worker would.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(settings.media_workers, mp_context=spawn) as pool:
        video = label_video(
            source,
            Path(args.out),
            produce_id=produce_id,
            producer=settings.producer_id,
            keyring=settings.keyring(),
            notice=settings.image_label_text if explicit else None,
            corner=settings.image_notice_corner,
            settings=settings.encode_settings(),
            limits=settings.media_limits(),
            segment_seconds=settings.segment_seconds,
            run=pool.map,
        )
    wm = video.watermark_id
    print(
        f"labeled {args.out}: format=MP4 segments={video.segments} watermark="
        + ("none (frame too small)" if wm is None else f"{wm:016x}")
        + f" explicit={explicit} ProduceID={video.record.produce_id} sha256={video.digest_hex}"
    )
    return 0


def _label_text(
    args: argparse.Namespace,
    settings: Settings,
    source: Path,
    data: bytes,
    *,
    explicit: bool,
    produce_id: str,
) -> int:
    from synthguard.labeling import mostly_cjk
    from synthguard.labels.text import write_labeled_file

    notice = None
    if explicit:
        text = data.decode("utf-8", errors="replace")
        notice = settings.notice_zh if mostly_cjk(text) else settings.notice_en
    labeled = write_labeled_file(
        source,
        Path(args.out),
        produce_id=produce_id,
        producer=settings.producer_id,
        keyring=settings.keyring(),
        notice=notice,
        position=settings.notice_position,
    )
    print(
        f"labeled {args.out}: explicit={labeled.explicit} "
        f"ProduceID={labeled.record.produce_id} sha256={labeled.digest_hex}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    path = Path(args.file)
    kind = _file_kind(path)
    result: Any
    if kind == "video":
        from synthguard.labels.video import verify_video

        result = verify_video(
            path,
            settings.keyring(),
            notice=settings.image_label_text,
            limits=settings.media_limits(),
        )
    elif kind == "audio":
        from synthguard.labels.audio import verify_audio

        result = verify_audio(path, settings.keyring(), limits=settings.media_limits())
    elif kind == "image":
        from synthguard.labels.image import verify_image

        result = verify_image(
            path.read_bytes(),
            settings.keyring(),
            notice=settings.image_label_text,
            max_pixels=settings.max_image_pixels,
        )
    elif kind == "scene":
        from synthguard.labels.scene import verify_scene

        result = verify_scene(path.read_bytes(), settings.keyring())
    else:
        from synthguard.labels.verify import verify_file

        result = verify_file(path, settings.keyring())
    report = {"kind": kind, **result.to_json_dict()}
    if args.json:
        print(orjson.dumps(report).decode())
    else:
        print(f"{report['status']}: {report['detail']}")
    return 0


def parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one flat declaration per command
    p = argparse.ArgumentParser(prog="synthguard", description=__doc__)
    p.add_argument(
        "--broker",
        help="kafka://HOST:PORT[,HOST:PORT] (default: SYNTHGUARD_BROKER or the embedded broker)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("broker", help="run the embedded Kafka-compatible broker (Tansu)")
    s.add_argument("--port", type=int, default=None)
    s.set_defaults(fn=cmd_broker)

    s = sub.add_parser("topics", help="manage the topic catalog")
    s.add_argument("action", choices=["create"])
    s.set_defaults(fn=cmd_topics)

    s = sub.add_parser("worker", help="run a pipeline worker (all stages, or one group)")
    s.add_argument("--web-port", type=int, default=None)
    s.add_argument(
        "--group",
        default="all",
        choices=["all", "pipeline", "watermark"],
        help="all: every stage; or pipeline (all but video segment labeling) beside watermark"
        " (segment labeling only, its own consumer group), each scaled on its own",
    )
    s.add_argument("--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    s.set_defaults(fn=cmd_worker)

    s = sub.add_parser("run", help="run the whole pipeline on the bundled samples")
    s.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for records")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("submit", help="publish artifact envelopes from a JSON Lines file")
    s.add_argument("file")
    s.add_argument("--skip-bad", action="store_true", help="submit the good lines anyway")
    s.set_defaults(fn=cmd_submit)

    s = sub.add_parser("review", help="decide an artifact held for manual review (Art. 10)")
    s.add_argument("artifact_id")
    verdict = s.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--publish", action="store_true")
    verdict.add_argument("--block", action="store_true")
    s.add_argument("--reviewer", required=True, help="who decides; goes on the compliance record")
    s.add_argument("--strike", action="store_true", help="with --block: a strike on the user")
    s.add_argument("--category", default=None)
    s.add_argument("--note", default=None)
    s.set_defaults(fn=cmd_review)

    registries = [spec.name for spec in catalog.CATALOG if spec.cleanup is catalog.Cleanup.COMPACT]
    s = sub.add_parser(
        "registry", help="add, delete or check registry entries (users, services, consents, ...)"
    )
    actions = s.add_subparsers(dest="action", required=True)
    put = actions.add_parser("put", help="write entries from a JSON Lines file")
    put.add_argument("topic", help=", ".join(registries))
    put.add_argument("file")
    put.add_argument("--skip-bad", action="store_true", help="write the good lines anyway")
    delete = actions.add_parser("delete", help="delete entries by key (tombstones)")
    delete.add_argument("topic", help=", ".join(registries))
    delete.add_argument("keys", nargs="+")
    check = actions.add_parser(
        "check",
        help="a service's security assessments and filing, as an app store checks (Art. 13)",
    )
    check.add_argument("service")
    s.set_defaults(fn=cmd_registry)

    s = sub.add_parser("tail", help="print a topic's records, decoded")
    s.add_argument("topic", help=", ".join(spec.name for spec in catalog.CATALOG))
    s.add_argument("--json", action="store_true")
    s.add_argument("--from-beginning", action="store_true")
    s.add_argument(
        "--timeout", type=float, default=None, help="exit after this many seconds without a record"
    )
    s.set_defaults(fn=cmd_tail)

    s = sub.add_parser(
        "audit",
        help="an artifact's audit trail, or every audit record in a window (Art. 21 inspection)",
        usage="%(prog)s ARTIFACT_ID [--json]\n"
        "       %(prog)s export --since WHEN --until WHEN [--out FILE]",
    )
    s.add_argument("target", metavar="ARTIFACT_ID | export")
    s.add_argument("--json", action="store_true", help="the history as JSON Lines")
    s.add_argument(
        "--since",
        metavar="WHEN",
        help="export from this ISO-8601 date (midnight UTC) or date-time with Z or an offset",
    )
    s.add_argument("--until", metavar="WHEN", help="export up to this moment (excluded)")
    s.add_argument("--out", metavar="FILE", help="export to this file (default: stdout)")
    s.set_defaults(fn=cmd_audit)

    s = sub.add_parser(
        "label",
        help="label a file: video (written as MP4), audio (MP3/M4A/WAV/FLAC), image "
        "(PNG/JPEG/WebP), glTF/GLB scene, or text (.md front matter, .txt sidecar)",
    )
    s.add_argument("file")
    s.add_argument("--out", required=True)
    s.add_argument(
        "--service-kind",
        default="WRITING",
        help="Art. 17 service kind; decides whether a visible label is added (default WRITING)",
    )
    s.add_argument("--produce-id", default=None, help="ProduceID (default: the file name)")
    s.set_defaults(fn=cmd_label)

    s = sub.add_parser("verify", help="check a file's labels (intact/altered/stripped)")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_verify)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.fn(args)
    except (SynthguardError, OSError) as exc:
        print(f"synthguard: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
