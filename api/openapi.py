"""OpenAPI 3.1 generated from the route table and the pydantic models that validate requests."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.problems import PROBLEM_CONTENT_TYPE
from api.routing import Media, RouteSpec

REF_TEMPLATE = "#/components/schemas/{model}"
Mode = Literal["validation", "serialization"]


def _models(specs: list[RouteSpec]) -> list[tuple[type[BaseModel], Mode]]:
    wanted: dict[tuple[type[BaseModel], Mode], None] = {}
    for spec in specs:
        if spec.body is not None:
            wanted[(spec.body, "validation")] = None
        for model in spec.responses.values():
            if model is not None and not isinstance(model, Media):
                wanted[(model, "serialization")] = None
    return list(wanted)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def build_openapi(specs: list[RouteSpec], *, version: str, title: str = "paywatch API") -> dict[str, Any]:
    key_map, definitions = models_json_schema(_models(specs), ref_template=REF_TEMPLATE)
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation: dict[str, Any] = {
            "operationId": spec.handler.__name__,
            "summary": spec.summary,
            "tags": [spec.tag],
            "responses": {},
        }
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in re.findall(r"{(\w+)}", spec.path)
        ]
        if spec.query is not None:
            parameters += _query_parameters(spec.query)
        if parameters:
            operation["parameters"] = parameters
        if spec.auth == "bearer":
            operation["security"] = [{"bearer": []}]
            operation["description"] = f"Requires an API key with the scope `{spec.scope}` (or `admin`)."
        elif spec.auth == "webhook":
            operation["security"] = [{"standardWebhook": []}]
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": key_map[(spec.body, "validation")]}},
            }
        for status, model in sorted(spec.responses.items()):
            response: dict[str, Any] = {"description": _describe(status)}
            if isinstance(model, Media):
                if model.description:
                    response["description"] = model.description
                response["content"] = {media: {"schema": {"type": "string"}} for media in model.content_types}
            elif model is not None:
                media = PROBLEM_CONTENT_TYPE if status >= 400 else "application/json"
                response["content"] = {media: {"schema": key_map[(model, "serialization")]}}
            operation["responses"][str(status)] = response
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "paywatch API key"},
                "standardWebhook": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "webhook-signature",
                    "description": "Standard Webhooks HMAC signature with the inbound secret",
                },
            },
        },
    }


def _describe(status: int) -> str:
    from http import HTTPStatus

    return HTTPStatus(status).phrase
