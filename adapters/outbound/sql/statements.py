"""Statements built once: the writes run through prepared.py (compiled once per dialect), the
reads through `Connection.execute`, which memoizes a prebuilt statement's cache key."""

from __future__ import annotations

from sqlalchemy import BigInteger, bindparam, case, func, insert, select, update

from adapters.outbound.sql.schema import (
    events,
    inbox,
    order_keys,
    order_lines,
    order_summaries,
    orders,
    outbox,
    projection_position,
    snapshots,
)

INSERT_ORDER = insert(orders)
INSERT_LINES = insert(order_lines)
INSERT_OUTBOX = insert(outbox).returning(outbox.c.seq)
INSERT_SUMMARY = insert(order_summaries)
INSERT_INBOX = insert(inbox)
INSERT_ORDER_KEY = insert(order_keys)
INSERT_SNAPSHOT = insert(snapshots)
INSERT_EVENTS = insert(events)
STREAM_VERSION = select(func.coalesce(func.max(events.c.version), 0)).where(
    events.c.stream_id == bindparam("stream_id"))
APPEND_LOCK = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))

# WHERE parameters carry a `where_` prefix so they never collide with the SET values.
SAVE_ORDER = (update(orders)
              .where(orders.c.id == bindparam("where_id"), orders.c.version == bindparam("where_version"))
              .values(status=bindparam("status"), version=bindparam("version"),
                      updated_at=bindparam("updated_at"), reason=bindparam("reason")))
UPDATE_SUMMARY = update(order_summaries).where(order_summaries.c.order_id == bindparam("where_order_id"))

_POSITION = projection_position.c.position
_NEW_POSITION = bindparam("new_position", type_=BigInteger)
ADVANCE_POSITION = (update(projection_position).where(projection_position.c.id == bindparam("row", 1))
                    .values(position=case((_NEW_POSITION > _POSITION, _NEW_POSITION), else_=_POSITION)))
SELECT_POSITION = select(_POSITION).where(projection_position.c.id == 1)

ORDER_BY_ID = select(orders).where(orders.c.id == bindparam("order_id"))
ORDER_BY_KEY = select(orders).where(orders.c.idempotency_key == bindparam("key"))
LINES_OF_ORDER = select(order_lines).where(order_lines.c.order_id == bindparam("order_id")).order_by(
    order_lines.c.line_no)
SUMMARY_BY_ID = select(order_summaries).where(order_summaries.c.order_id == bindparam("order_id"))
LATEST_SNAPSHOT = (select(snapshots.c.data).where(snapshots.c.stream_id == bindparam("order_id"))
                   .order_by(snapshots.c.version.desc()).limit(1))
ORDER_ID_BY_KEY = select(order_keys.c.order_id).where(order_keys.c.idempotency_key == bindparam("key"))
INBOX_HAS = select(inbox.c.message_id).where(inbox.c.message_id == bindparam("message_id"))
