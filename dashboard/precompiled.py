"""Querysets compiled to SQL once per process and run again with new parameters.

Building and compiling a queryset costs the ORM far more CPU than the database needs to answer
it: a health check's opening query (the pipeline with six annotations) takes ~4.5 ms of Python to
compile and ~0.1 ms to run. A health check runs the same few query shapes a thousand times a
minute, so `Precompiled` compiles each shape once per thread and database alias with sentinel
parameter values, remembers where those sentinels landed in the SQL's parameter list, and
afterwards only substitutes the new values and runs the SQL. The ORM still writes every query,
so it stays portable between SQLite and PostgreSQL; rows come back through the converters the
ORM would apply, and model instances are built as the ORM builds them (`Model.from_db`, the
related objects of `select_related` through the ORM's own `RelatedPopulator`, then the
annotations). A `select_for_update` shape must first be run inside a transaction (the ORM
refuses to compile it outside one); its SQL keeps the lock clause, so every later run locks too.

Parameters are ints, strings, aware datetimes or UUIDs. Where the ORM would adapt a value for
the database (a datetime on SQLite becomes text, a UUID hex), the new value is adapted the same
way. `PrecompiledUpdate` does the same for a `QuerySet.update` shape. A shape
whose sentinels cannot all be found in the compiled parameters is not cached: it is run through
the ORM every time, so the answer never depends on this cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.db import connections, router, transaction
from django.db.models import Model, QuerySet, sql
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=Model)
_ParamKind = type[int] | type[str] | type[datetime] | type[UUID]


def _sentinel(kind: _ParamKind, index: int) -> Any:
    # Values no real query passes: far-negative ids, control characters, instants in 1901,
    # UUIDs of version 0.
    if kind is int:
        return -900_000_001 - index
    if kind is str:
        return f"\x01precompiled-{index}\x01"
    if kind is UUID:
        return UUID(int=0x9C0_0000_0000 + index)
    return datetime(1901, 1, 1, 0, 0, index + 1, 123_457, tzinfo=UTC)


# The range of a 64-bit integer column: no row holds a value outside it. The ORM answers a lookup
# with such a value as matching nothing (since Django 5.0); passed on as a parameter, SQLite
# raises OverflowError (a 500 for an id like 15629237077562118144 in a URL).
_INT64 = range(-(2**63), 2**63)


def _unmatchable(arguments: dict[str, Any]) -> bool:
    """Whether an int argument is outside the range any integer column can hold."""
    return any(type(v) is int and v not in _INT64 for v in arguments.values())


def _adapted(value: Any, alias: str) -> Any:
    """`value` as the ORM passes it to the database: a datetime as the backend stores it (text
    on SQLite), a UUID as hex where the backend has no UUID type."""
    connection = connections[alias]
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, UUID) and not connection.features.has_native_uuid_field:
        return value.hex
    return value


class _Parameters:
    """A compiled statement's parameter list with holes where the arguments' sentinels landed."""

    def __init__(self, params: Any, alias: str, sentinels: dict[str, Any]) -> None:
        self.params = list(params)
        self.slots: list[tuple[int, str, bool]] = []  # (position, argument, adapted)
        found = set()
        for position, value in enumerate(self.params):
            for name, sentinel in sentinels.items():
                form = _adapted(sentinel, alias)
                adapted = form is not sentinel and value == form
                if value == sentinel or adapted:
                    if type(value) is not type(sentinel) and not adapted:
                        continue  # True == 1 and the like: not ours
                    self.slots.append((position, name, adapted and value != sentinel))
                    found.add(name)
        self.complete = found == set(sentinels)

    def bind(self, alias: str, arguments: dict[str, Any]) -> list[Any]:
        params = list(self.params)
        for position, name, adapted in self.slots:
            value = arguments[name]
            params[position] = _adapted(value, alias) if adapted else value
        return params


class _Compiled:
    """One shape's SQL for one connection: the parameter list with holes for the arguments, and
    how its rows become values (the ORM's converters) and model instances (as `ModelIterable`
    builds them: model fields by attname, the `select_related` objects, then annotations)."""

    def __init__(self, queryset: QuerySet[Any], alias: str, sentinels: dict[str, Any]) -> None:
        compiler = queryset.query.get_compiler(using=alias)
        self.sql, params = compiler.as_sql()
        self.parameters = _Parameters(params, alias, sentinels)
        self.complete = self.parameters.complete
        select = compiler.select[: compiler.col_count]
        self.converters = compiler.get_converters([column[0] for column in select])
        self.compiler = compiler
        self.model_fields = slice(0, 0)
        self.init_list: list[str] = []
        self.annotations: dict[str, int] = {}
        self.related: list[Any] = []
        klass_info = compiler.klass_info
        if klass_info is not None:
            # Stateless between rows: each populator builds its related object from a row.
            # (The type stubs follow a later Django, whose signature adds `fetch_mode`.)
            self.related = get_related_populators(klass_info, compiler.select, alias)  # type: ignore[call-arg]
            fields = klass_info["select_fields"]
            self.model_fields = slice(fields[0], fields[-1] + 1)
            self.init_list = [column[0].target.attname for column in select[self.model_fields]]
            self.annotations = dict(compiler.annotation_col_map)

    def fetch(self, alias: str, arguments: dict[str, Any]) -> list[Any]:
        with connections[alias].cursor() as cursor:
            cursor.execute(self.sql, self.parameters.bind(alias, arguments))
            rows = cursor.fetchall()
        if rows and self.converters:
            return list(self.compiler.apply_converters(rows, self.converters))
        return rows

    def instances(self, model: type[M], alias: str, rows: list[Any]) -> list[M]:
        objects = []
        for row in rows:
            obj = model.from_db(alias, self.init_list, row[self.model_fields])
            for populator in self.related:
                populator.populate(row, obj)
            for name, position in self.annotations.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


class Precompiled(Generic[M]):
    """A queryset shape: `build(**arguments)` returns the queryset for those arguments.

    `kinds` names each argument's type (int, str or datetime). `first` and `all` return the
    model instances of a model shape (with their annotations; `build` orders and slices), `rows`
    the converted rows of a `values_list` shape (not `flat`).
    """

    def __init__(self, build: Callable[..., QuerySet[M, Any]], **kinds: _ParamKind) -> None:
        self.build = build
        self.kinds = kinds
        self._local = threading.local()

    def _compiled(self) -> tuple[str, _Compiled]:
        # Per thread, as Django's connections are; one shape per database alias.
        cache: dict[str, _Compiled] = self._local.__dict__.setdefault("cache", {})
        model: type[Model] | None = self._local.__dict__.get("model")
        alias = None
        if model is not None:
            # A locking shape runs where the ORM would run it: on the database for writes.
            route = router.db_for_write if self._local.for_write else router.db_for_read
            alias = route(model)
        compiled = cache.get(alias) if alias is not None else None
        if compiled is None:
            sentinels = {
                name: _sentinel(kind, index)
                for index, (name, kind) in enumerate(self.kinds.items())
            }
            queryset = self.build(**sentinels)
            self._local.model = queryset.model
            self._local.for_write = bool(getattr(queryset, "_for_write", False))
            alias = queryset.db
            compiled = cache[alias] = _Compiled(queryset, alias, sentinels)
        assert alias is not None
        return alias, compiled

    def all(self, **arguments: Any) -> list[M]:
        """Every model instance the shape selects, in its order."""
        if _unmatchable(arguments):
            return []
        alias, compiled = self._compiled()
        if not compiled.complete:
            return list(self.build(**arguments))
        return compiled.instances(self._local.model, alias, compiled.fetch(alias, arguments))

    def first(self, **arguments: Any) -> M | None:
        """The first model instance the shape selects, or None."""
        objects = self.all(**arguments)
        return objects[0] if objects else None

    def rows(self, **arguments: Any) -> list[tuple[Any, ...]]:
        """The rows of a `values_list` shape, converted as the ORM converts them."""
        if _unmatchable(arguments):
            return []
        alias, compiled = self._compiled()
        if not compiled.complete:
            return [tuple(row) for row in self.build(**arguments)]
        return [tuple(row) for row in compiled.fetch(alias, arguments)]


class _CompiledUpdate:
    """One UPDATE shape's SQL for one connection, with holes for the arguments."""

    def __init__(
        self, queryset: QuerySet[Any], values: dict[str, Any], alias: str, sentinels: dict[str, Any]
    ) -> None:
        query: Any = queryset.query.chain(sql.UpdateQuery)  # an UpdateQuery, untyped in stubs
        query.add_update_values(values)
        query.clear_select_clause()
        compiler = query.get_compiler(using=alias)
        compiler.pre_sql_setup()
        try:
            self.sql, params = compiler.as_sql()
        except (EmptyResultSet, FullResultSet):
            # A sentinel the field's range rules out (a negative id for a small positive
            # integer): the ORM decides such a filter before SQL, so the shape is not cached.
            self.sql, params = "", ()
        self.parameters = _Parameters(params, alias, sentinels)
        # One statement on one table, as `QuerySet.update` would run it; anything else (updates
        # of parents, a filter across a join) is left to the ORM.
        self.complete = (
            self.parameters.complete
            and bool(self.sql)
            and not query.related_updates
            and query.count_active_tables() == 1
        )


class PrecompiledUpdate(Generic[M]):
    """An UPDATE shape: `build(**arguments)` returns the queryset of the rows to change and the
    values to set, as `QuerySet.update` takes them; `run(**arguments)` sets them and returns the
    number of rows changed, as `QuerySet.update` does. `kinds` as for `Precompiled` (UUIDs too);
    a value of another kind (a dict for a JSON column, None) must be a constant of the shape."""

    def __init__(
        self,
        build: Callable[..., tuple[QuerySet[M, Any], dict[str, Any]]],
        **kinds: _ParamKind,
    ) -> None:
        self.build = build
        self.kinds = kinds
        self._local = threading.local()

    def run(self, **arguments: Any) -> int:
        cache: dict[str, _CompiledUpdate] = self._local.__dict__.setdefault("cache", {})
        model: type[Model] | None = self._local.__dict__.get("model")
        alias = router.db_for_write(model) if model is not None else None
        compiled = cache.get(alias) if alias is not None else None
        if compiled is None:
            sentinels = {
                name: _sentinel(kind, index)
                for index, (name, kind) in enumerate(self.kinds.items())
            }
            queryset, values = self.build(**sentinels)
            self._local.model = queryset.model
            alias = router.db_for_write(queryset.model)
            compiled = cache[alias] = _CompiledUpdate(queryset, values, alias, sentinels)
        assert alias is not None
        if not compiled.complete:
            queryset, values = self.build(**arguments)
            return queryset.update(**values)
        # As `QuerySet.update`: a failed statement inside an atomic block marks it for rollback.
        with (
            transaction.mark_for_rollback_on_error(using=alias),
            connections[alias].cursor() as cursor,
        ):
            cursor.execute(compiled.sql, compiled.parameters.bind(alias, arguments))
            return int(cursor.rowcount)
