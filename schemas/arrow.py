"""Arrow schemas derived from the Pydantic models, so each table's columns are declared once."""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime
from functools import cache

import pyarrow as pa
from pydantic import BaseModel, TypeAdapter

_SCALARS: dict[type, pa.DataType] = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(),
                                     datetime: pa.timestamp("us", tz="UTC")}


@cache
def arrow_schema(model: type[BaseModel]) -> pa.Schema:
    """The Arrow schema of a row model; nested models become structs, a discriminated union one merged struct."""
    return pa.schema([pa.field(name, *_arrow_type(info.annotation)) for name, info in model.model_fields.items()])


def to_arrow(rows: list[BaseModel], model: type[BaseModel]) -> pa.Table:
    """Rows of `model` as an Arrow table with the derived schema (dumped in one call, as `model_dump` each)."""
    return pa.Table.from_pylist(_list_adapter(model).dump_python(rows), schema=arrow_schema(model))


@cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter:
    return TypeAdapter(list[model])


def from_record(record: dict, model: type[BaseModel]) -> BaseModel:
    """A row of `model` back from an Arrow/DuckDB record: map columns (lists of pairs) become dicts, and null
    struct fields are dropped (a merged union struct fills only its member's fields). Raises ValidationError."""
    maps = {name for name, info in model.model_fields.items() if typing.get_origin(info.annotation) is dict}
    return model.model_validate({name: dict(value) if name in maps and value is not None else _drop_nulls(value)
                                 for name, value in record.items()})


def _drop_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _arrow_type(annotation: object) -> tuple[pa.DataType, bool]:
    """(type, nullable) for one annotation."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _arrow_type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) == 1:
            return _arrow_type(members[0])[0], nullable
        if all(isinstance(m, type) and issubclass(m, BaseModel) for m in members):
            return _merged_struct(members), nullable
        raise TypeError(f"no Arrow mapping for union {annotation}")
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        return _arrow_type(type(values[0].value if isinstance(values[0], enum.Enum) else values[0]))[0], False
    if origin in (list, tuple):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        if len(set(args)) != 1:
            raise TypeError(f"no Arrow mapping for heterogeneous {annotation}")
        return pa.list_(_arrow_type(args[0])[0]), False
    if origin is dict:
        key, value = typing.get_args(annotation)
        return pa.map_(_arrow_type(key)[0], _arrow_type(value)[0]), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct([pa.field(n, *_arrow_type(f.annotation)) for n, f in annotation.model_fields.items()]), False
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return pa.string(), False
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    raise TypeError(f"no Arrow mapping for {annotation!r}")


def _merged_struct(models: list[type[BaseModel]]) -> pa.DataType:
    """One struct holding every member's fields, all nullable (a member fills only its own)."""
    fields: dict[str, pa.DataType] = {}
    for model in models:
        for name, info in model.model_fields.items():
            arrow_type = _arrow_type(info.annotation)[0]
            if fields.setdefault(name, arrow_type) != arrow_type:
                raise TypeError(f"field {name} has types {fields[name]} and {arrow_type} across {models}")
    return pa.struct([pa.field(name, arrow_type) for name, arrow_type in fields.items()])
