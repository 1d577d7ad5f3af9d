"""The machine-readable Bot API description, and checks of requests and results against it.

The description (``api.json``, see the ``README.md`` beside it) lists every method and type of Telegram's Bot
API with each field's name, types and whether it is required. The dev server uses it to answer a request the
way Telegram would when the bot gets a method or parameter wrong, and its tests use
:meth:`ApiSpec.check_result` to prove that what the server answers is what the real API would return.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JsonDict = dict[str, Any]

SPEC_ENV_VAR = "TELEGRAM_API_SPEC"
SHARED_SPEC_PATH = Path(__file__).resolve().parents[4] / "shared" / "telegram-bot-api" / "api.json"
BUNDLED_SPEC_PATH = Path(__file__).resolve().parent / "telegram-bot-api" / "api.json"
"""A copy (MIT licence, beside it) so the test suite runs on a machine without shared/."""

_ARRAY_PREFIX = "Array of "
_INT_RE = re.compile(r"-?\d+")
# A union member names its kind in a required String field, e.g. 'Type of the scope, must be chat' or
# 'always "creator"'; that field tells the members of a union apart.
_DISCRIMINATOR_RE = re.compile(r'(?:always|must be)\s+\W?"?([a-z_0-9]+)"?')
_ATTACH_PREFIX = "attach://"
_ATTACH_RE = re.compile(r"attach://([\w.-]+)")


class ApiSpecNotFoundError(FileNotFoundError):
    """The Bot API description file is not where it was looked for."""


class ApiRequestError(Exception):
    """A request that Telegram would refuse: carries the error envelope's code and description."""

    def __init__(self, error_code: int, description: str, parameters: JsonDict | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def envelope(self) -> JsonDict:
        """The JSON body Telegram answers with."""
        body: JsonDict = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str) -> ApiRequestError:
    return ApiRequestError(400, f"Bad Request: {what}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    field_name: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str = ""


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class TypeSpec:
    name: str
    fields: Mapping[str, FieldSpec] | None
    subtypes: tuple[str, ...] = ()
    discriminator: tuple[str, str] | None = None
    required: frozenset[str] = field(default_factory=frozenset)


class _MismatchError(Exception):
    """A top-level parameter value that fits none of its declared types."""


def find_spec_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The description file: ``path`` if given, else $TELEGRAM_API_SPEC, else shared/ beside the repo."""
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    elif os.environ.get(SPEC_ENV_VAR):
        candidates.append(Path(os.environ[SPEC_ENV_VAR]))
    else:
        candidates += [SHARED_SPEC_PATH, BUNDLED_SPEC_PATH]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ApiSpecNotFoundError(
        f"Telegram Bot API description not found at {candidates[0]}; pass spec_path=..., or set "
        f"{SPEC_ENV_VAR} to the api.json of github.com/PaulSonOfLars/telegram-bot-api-spec"
    )


def _field_specs(raw_fields: Iterable[JsonDict]) -> dict[str, FieldSpec]:
    return {
        f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"]), f.get("description", ""))
        for f in raw_fields
    }


def _discriminator(fields: Mapping[str, FieldSpec]) -> tuple[str, str] | None:
    for spec in fields.values():
        if spec.required and spec.types == ("String",):
            match = _DISCRIMINATOR_RE.search(spec.description)
            if match:
                return spec.name, match.group(1)
    return None


def _type_spec(raw: JsonDict) -> TypeSpec:
    if "fields" not in raw:
        return TypeSpec(raw["name"], None, tuple(raw.get("subtypes", ())))
    fields = _field_specs(raw["fields"])
    disc = _discriminator(fields) if raw.get("subtype_of") else None
    required = frozenset(name for name, spec in fields.items() if spec.required)
    return TypeSpec(raw["name"], fields, tuple(raw.get("subtypes", ())), disc, required)


class ApiSpec:
    """Methods and types of the Bot API, with checks of values against them."""

    def __init__(self, raw: JsonDict, source: Path | None = None) -> None:
        self.source = source
        self.version: str = raw.get("version", "unknown")
        self.methods: dict[str, MethodSpec] = {
            name: MethodSpec(name, _field_specs(m.get("fields", ())), tuple(m["returns"]))
            for name, m in raw["methods"].items()
        }
        self.types: dict[str, TypeSpec] = {name: _type_spec(t) for name, t in raw["types"].items()}
        self._methods_lower = {name.lower(): spec for name, spec in self.methods.items()}

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> ApiSpec:
        found = find_spec_path(path)
        with found.open(encoding="utf-8") as handle:
            return cls(json.load(handle), found)

    def find_method(self, name: str) -> MethodSpec | None:
        """Telegram matches method names without regard to case."""
        return self._methods_lower.get(name.lower())

    # ---- requests -------------------------------------------------------------------------------------

    def parse_params(
        self,
        method: MethodSpec,
        raw: Mapping[str, object],
        files: Mapping[str, UploadedFile] | None = None,
        extra_fields: Mapping[str, FieldSpec] | None = None,
    ) -> JsonDict:
        """Typed parameters of a request, or :class:`ApiRequestError` as Telegram would answer.

        ``raw`` holds form strings (objects and arrays JSON-encoded, as PTB sends them), JSON values, or
        :class:`UploadedFile` parts; ``files`` holds multipart parts referenced as ``attach://name``.
        ``extra_fields`` are parameters Telegram still accepts though the description no longer lists them.
        """
        files = files or {}
        fields = {**method.fields, **(extra_fields or {})}
        attached = _attach_names(raw.values())
        for name in raw:
            if name not in fields and name not in attached:
                raise bad_request(f"unknown parameter {name}")
        for name in files:
            if name not in attached and name not in fields:
                raise bad_request(f"unknown parameter {name}")
        for spec in fields.values():
            if spec.required and spec.name not in raw:
                raise bad_request(f"parameter {spec.name} is required")
        params: JsonDict = {}
        for name, value in raw.items():
            if name not in fields:
                continue
            try:
                params[name] = self._coerce(fields[name].types, value, files)
            except _MismatchError:
                raise bad_request(f"wrong type of parameter {name}") from None
        return params

    def _coerce(self, types: tuple[str, ...], value: object, files: Mapping[str, UploadedFile]) -> object:
        for type_expr in types:
            try:
                return self._coerce_one(type_expr, value, files)
            except _MismatchError:
                continue
        raise _MismatchError

    def _coerce_one(self, type_expr: str, value: object, files: Mapping[str, UploadedFile]) -> object:
        if isinstance(value, UploadedFile):
            if type_expr == "InputFile":
                return value
            raise _MismatchError
        scalar = _coerce_scalar(type_expr, value)
        if scalar is not _NOT_SCALAR:
            return scalar
        if type_expr == "InputFile":
            if isinstance(value, str) and value.startswith(_ATTACH_PREFIX):
                attached = files.get(value[len(_ATTACH_PREFIX) :])
                if attached is not None:
                    return attached
            raise _MismatchError
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise _MismatchError from None
        if self.check_value(type_expr, value):
            raise _MismatchError
        return value

    # ---- values and results ---------------------------------------------------------------------------

    def check_result(self, method: str, result: object) -> list[str]:
        """Problems of ``result`` as the answer of ``method``; empty if it follows the description."""
        spec = self.find_method(method)
        if spec is None:
            return [f"unknown method {method}"]
        return self._check_union(spec.returns, result, "result")

    def check_object(self, type_name: str, value: object) -> list[str]:
        """Problems of ``value`` as an object of type ``type_name`` (e.g. "Message", "Array of Update")."""
        return self.check_value(type_name, value)

    def check_value(self, type_expr: str, value: object, path: str = "$") -> list[str]:
        if type_expr.startswith(_ARRAY_PREFIX):
            if not isinstance(value, list):
                return [f"{path}: expected {type_expr}, got {_kind(value)}"]
            inner = type_expr[len(_ARRAY_PREFIX) :]
            problems: list[str] = []
            for index, item in enumerate(value):
                problems += self.check_value(inner, item, f"{path}[{index}]")
            return problems
        primitive = _check_primitive(type_expr, value)
        if primitive is not None:
            return [f"{path}: expected {type_expr}, got {_kind(value)}"] if not primitive else []
        spec = self.types.get(type_expr)
        if spec is None:
            return [f"{path}: the description has no type {type_expr}"]
        if spec.subtypes:
            return self._check_union(spec.subtypes, value, path)
        return self._check_fields(spec, value, path)

    def _check_union(self, types: tuple[str, ...], value: object, path: str) -> list[str]:
        if len(types) == 1:
            return self.check_value(types[0], value, path)
        best: list[str] | None = None
        for type_expr in types:
            problems = self.check_value(type_expr, value, path)
            if not problems:
                return []
            if best is None or len(problems) < len(best):
                best = problems
        return [f"{path}: fits none of {' | '.join(types)}", *(best or [])]

    def _check_fields(self, spec: TypeSpec, value: object, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected {spec.name} object, got {_kind(value)}"]
        fields = spec.fields or {}  # e.g. CallbackGame "currently holds no information": {}
        problems = [
            f"{path}.{name}: required field of {spec.name} is missing"
            for name in spec.required
            if name not in value
        ]
        if spec.discriminator is not None:
            key, expected = spec.discriminator
            if key in value and value[key] != expected:
                return [f"{path}.{key}: {spec.name} needs {expected!r}, got {value[key]!r}"]
        for name, item in value.items():
            field_spec = fields.get(name)
            if field_spec is None:
                problems.append(f"{path}.{name}: {spec.name} has no field {name}")
            else:
                problems += self._check_union(field_spec.types, item, f"{path}.{name}")
        return problems


_NOT_SCALAR = object()


def _coerce_scalar(type_expr: str, value: object) -> object:
    """A top-level scalar parameter as Telegram reads it: form values are strings, JSON ones typed."""
    if type_expr == "Integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            return int(value)
        raise _MismatchError
    if type_expr == "Float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _MismatchError from None
        raise _MismatchError
    if type_expr in ("Boolean", "True"):
        parsed = _parse_bool(value)
        if parsed is None or (type_expr == "True" and not parsed):
            raise _MismatchError
        return parsed
    if type_expr == "String":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise _MismatchError
    return _NOT_SCALAR


def _parse_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower())
    return None


def _check_primitive(type_expr: str, value: object) -> bool | None:
    """Whether ``value`` is a JSON value of primitive type ``type_expr``; None if not a primitive."""
    if type_expr == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_expr == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_expr == "Boolean":
        return isinstance(value, bool)
    if type_expr == "True":
        return value is True
    if type_expr == "String":
        return isinstance(value, str)
    if type_expr == "InputFile":  # inside JSON objects an upload is referenced as attach://<part>
        return isinstance(value, str) and value.startswith(_ATTACH_PREFIX)
    return None


def _attach_names(values: Iterable[object]) -> set[str]:
    names: set[str] = set()
    for value in values:
        if isinstance(value, str) and _ATTACH_PREFIX in value:
            names.update(_ATTACH_RE.findall(value))
        elif isinstance(value, dict | list):
            names.update(_ATTACH_RE.findall(json.dumps(value)))
    return names


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "Boolean",
        int: "Integer",
        float: "Float",
        str: "String",
        list: "Array",
        dict: "object",
    }.get(type(value), type(value).__name__)
