"""The `bridge` command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bridge import cli_stock
from bridge.cli_support import open_engine, print_table, secret_box
from bridge.db import session_scope, utcnow
from bridge.errors import ConfigError, SettingsError
from bridge.logs import configure
from bridge.migrate import upgrade
from bridge.models import Alert, Fulfilment, PurchaseAttempt
from bridge.settings import Settings, get_settings
from mappings import admin
from mappings import repository as mapping_repo
from workers.fulfilment.redrive import RedriveRefused, resend_line, retry_line

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = get_settings()
    configure(settings.log_level)
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except (SettingsError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bridge", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="web + workers + scheduler in one process").set_defaults(
        handler=_run
    )
    sub.add_parser("serve", help="web only").set_defaults(handler=_serve)
    sub.add_parser("worker", help="workers (and the scheduler) only").set_defaults(handler=_worker)
    demo = sub.add_parser("demo", help="simulators + bridge + a sample order")
    demo.add_argument(
        "--once", action="store_true", help="exit 0 once the sample order is fulfilled"
    )
    demo.set_defaults(handler=_demo)
    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=_db_upgrade)

    shops = sub.add_parser("shops", help="Pancake shops").add_subparsers(
        dest="shops", required=True
    )
    add = shops.add_parser("add", help="add or update a shop")
    add.add_argument("shop_id")
    add.add_argument("--api-key", required=True)
    add.add_argument(
        "--webhook-secret", required=True, help="the value Pancake sends in X-Bridge-Secret"
    )
    add.add_argument("--warehouse-id")
    add.add_argument(
        "--trigger-status",
        type=int,
        nargs="+",
        help="order statuses that start fulfilment (default 1)",
    )
    add.set_defaults(handler=_shops_add)
    shops.add_parser("list").set_defaults(handler=_shops_list)

    suppliers = sub.add_parser("suppliers", help="supplier shops").add_subparsers(
        dest="suppliers", required=True
    )
    add = suppliers.add_parser("add", help="add or update a supplier")
    add.add_argument("name")
    add.add_argument(
        "--base-url", required=True, help="the API root, e.g. https://caoshop.net/api/v1"
    )
    add.add_argument("--api-key", required=True)
    add.add_argument("--api-secret", required=True)
    add.set_defaults(handler=_suppliers_add)
    suppliers.add_parser("list").set_defaults(handler=_suppliers_list)

    mappings = sub.add_parser("mappings", help="variation -> supplier plan").add_subparsers(
        dest="mappings", required=True
    )
    add = mappings.add_parser("add", help="map a Pancake variation to a supplier plan")
    add.add_argument("--shop", required=True)
    add.add_argument("--variation", required=True)
    add.add_argument("--supplier", required=True)
    add.add_argument("--plan", type=int, required=True)
    add.add_argument("--units", type=int, default=1, help="supplier units per POS item")
    add.add_argument("--fields", help='JSON object, e.g. {"email": "{order.bill_email}"}')
    add.add_argument("--priority", type=int, default=0, help="lower is tried first")
    add.set_defaults(handler=_mappings_add)
    lst = mappings.add_parser("list")
    lst.add_argument("--shop")
    lst.set_defaults(handler=_mappings_list)

    fulfilments = sub.add_parser("fulfilments", help="order lines and their state").add_subparsers(
        dest="fulfilments", required=True
    )
    lst = fulfilments.add_parser("list")
    lst.add_argument("--state")
    lst.add_argument("--limit", type=int, default=100)
    lst.set_defaults(handler=_fulfilments_list)
    show = fulfilments.add_parser("show")
    show.add_argument("id", type=int)
    show.set_defaults(handler=_fulfilments_show)
    retry = fulfilments.add_parser(
        "retry", help="re-drive a needs_attention/failed line (e.g. after a top-up)"
    )
    retry.add_argument("id", type=int)
    retry.set_defaults(handler=_fulfilments_retry)
    resend = fulfilments.add_parser(
        "resend", help="write a line's stored credentials into the note again if missing"
    )
    resend.add_argument("id", type=int)
    resend.set_defaults(handler=_fulfilments_resend)
    alerts = sub.add_parser("alerts", help="what needs an operator").add_subparsers(
        dest="alerts", required=True
    )
    alerts.add_parser("list").set_defaults(handler=_alerts_list)
    cli_stock.register(sub)
    return parser


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.runtime.wiring import Runtime

    runtime = Runtime(settings)
    runtime.start_workers()
    try:
        runtime.serve_forever()
    finally:
        runtime.stop()
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.runtime.wiring import Runtime

    runtime = Runtime(settings)
    try:
        runtime.serve_forever()
    finally:
        runtime.stop()
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.runtime.wiring import Runtime

    runtime = Runtime(settings)
    runtime.start_workers()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("bridge worker running; Ctrl-C to stop", file=sys.stderr)
    stop.wait()
    runtime.stop()
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.dev.demo import run_demo

    return run_demo(once=args.once)


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade(settings.database_url)
    print("database is at the newest schema")
    return 0


def _shops_add(args: argparse.Namespace, settings: Settings) -> int:
    box = secret_box(settings)
    with session_scope(open_engine(settings)) as session:
        admin.add_shop(
            session,
            box,
            args.shop_id,
            api_key=args.api_key,
            webhook_secret=args.webhook_secret,
            warehouse_id=args.warehouse_id,
            trigger_statuses=args.trigger_status,
        )
    print(f"shop {args.shop_id} saved; webhook URL: <bridge URL>/webhooks/pancake/{args.shop_id}")
    return 0


def _shops_list(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(open_engine(settings)) as session:
        rows = [
            [s.shop_id, s.warehouse_id or "-", ",".join(map(str, s.trigger_statuses))]
            for s in admin.list_shops(session)
        ]
    print_table(["shop", "warehouse", "triggers"], rows)
    return 0


def _suppliers_add(args: argparse.Namespace, settings: Settings) -> int:
    box = secret_box(settings)
    with session_scope(open_engine(settings)) as session:
        admin.add_supplier(
            session,
            box,
            args.name,
            base_url=args.base_url,
            api_key=args.api_key,
            api_secret=args.api_secret,
        )
    print(f"supplier {args.name} saved")
    return 0


def _suppliers_list(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(open_engine(settings)) as session:
        rows = [
            [s.name, s.base_url, "yes" if s.enabled else "no"]
            for s in admin.list_suppliers(session)
        ]
    print_table(["supplier", "base_url", "enabled"], rows)
    return 0


def _mappings_add(args: argparse.Namespace, settings: Settings) -> int:
    fields = mapping_repo.parse_fields(args.fields)
    with session_scope(open_engine(settings)) as session:
        mapping = mapping_repo.add_mapping(
            session,
            shop_id=args.shop,
            variation_id=args.variation,
            supplier_name=args.supplier,
            plan_id=args.plan,
            units=args.units,
            fields=fields,
            priority=args.priority,
        )
        session.flush()
        print(f"mapping {mapping.id} saved")
    return 0


def _mappings_list(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(open_engine(settings)) as session:
        rows = [
            [
                m.id,
                m.shop_id,
                m.variation_id,
                m.supplier_name,
                m.plan_id,
                m.units,
                m.priority,
                json.dumps(m.fields_template, ensure_ascii=False) if m.fields_template else "-",
            ]
            for m in mapping_repo.list_mappings(session, args.shop)
        ]
    print_table(
        ["id", "shop", "variation", "supplier", "plan", "units", "priority", "fields"], rows
    )
    return 0


def _fulfilments_list(args: argparse.Namespace, settings: Settings) -> int:
    statement = select(Fulfilment).order_by(col(Fulfilment.id).desc()).limit(args.limit)
    if args.state:
        statement = statement.where(Fulfilment.state == args.state)
    with session_scope(open_engine(settings)) as session:
        rows = [
            [
                f.id,
                f.shop_id,
                f.order_id,
                f.variation_id or "-",
                f.supplier_name or "-",
                f.plan_id or "-",
                f.supplier_quantity or "-",
                f.state,
                f.trans_id or "-",
                f.reason or f.last_error or "",
            ]
            for f in session.exec(statement)
        ]
    print_table(
        [
            "id",
            "shop",
            "order",
            "variation",
            "supplier",
            "plan",
            "qty",
            "state",
            "trans_id",
            "reason",
        ],
        rows,
    )
    return 0


def _fulfilments_show(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(open_engine(settings)) as session:
        line = session.get(Fulfilment, args.id)
        if line is None:
            print(f"error: no fulfilment {args.id}", file=sys.stderr)
            return 1
        details = line.model_dump(exclude={"fields_enc", "credentials_enc"})
        details["credentials"] = (
            f"{line.delivered_count} stored (encrypted)" if line.credentials_enc else "none yet"
        )
        for key, value in details.items():
            print(f"{key:>18}: {value}")
        attempts = session.exec(
            select(PurchaseAttempt)
            .where(PurchaseAttempt.fulfilment_id == args.id)
            .order_by(col(PurchaseAttempt.id))
        ).all()
    print("\npurchase attempts:")
    print_table(
        ["id", "supplier", "plan", "qty", "outcome", "trans_id", "code", "started", "finished"],
        [
            [
                a.id,
                a.supplier_name,
                a.plan_id,
                a.quantity,
                a.outcome,
                a.trans_id or "-",
                a.error_code or "-",
                a.started_at.isoformat(timespec="seconds"),
                a.finished_at.isoformat(timespec="seconds") if a.finished_at else "-",
            ]
            for a in attempts
        ],
    )
    return 0


def _fulfilments_retry(args: argparse.Namespace, settings: Settings) -> int:
    return _redrive(settings, lambda engine: retry_line(engine, args.id, utcnow()))


def _fulfilments_resend(args: argparse.Namespace, settings: Settings) -> int:
    return _redrive(settings, lambda engine: resend_line(engine, args.id, utcnow()))


def _redrive(settings: Settings, action: Callable[[Engine], str]) -> int:
    try:
        print(action(open_engine(settings)))
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RedriveRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _alerts_list(args: argparse.Namespace, settings: Settings) -> int:
    with session_scope(open_engine(settings)) as session:
        rows = [
            [a.kind, a.subject, a.count, a.last_seen_at.isoformat(timespec="seconds"), a.message]
            for a in session.exec(select(Alert).order_by(col(Alert.last_seen_at).desc()))
        ]
    print_table(["kind", "subject", "count", "last seen", "message"], rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
