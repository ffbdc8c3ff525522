"""Request parameter validation with short messages that name the parameter.

Connexion's default message is jsonschema's multi-line text, which repeats the whole input
value and the schema. Ours names the parameter and the rule it broke, and echoes nothing, so a
hostile value never comes back in a response. Validators are built once per parameter instead
of on every request.
"""

from __future__ import annotations

import re
from typing import Any

from connexion.validators import ParameterValidator
from jsonschema.exceptions import best_match
from starlette.datastructures import QueryParams

from server.patterns import SpecValidator


def _rule_broken(error) -> str:
    rules = {
        "pattern": "does not match the naming rules",
        "minLength": "must not be empty",
        "maxLength": f"is longer than {error.validator_value} characters",
        "type": f"must be of type {error.validator_value}",
        "enum": "is not one of the allowed values",
        "minimum": f"must be at least {error.validator_value}",
        "maximum": f"must be at most {error.validator_value}",
    }
    return rules.get(error.validator, f"violates '{error.validator}'")


# What a query string's integer may look like. Connexion converts with int(), which would also
# take " 5", "+5" and "5_0".
_INTEGER = re.compile(r"-?[0-9]+")


class ShortMessageParameterValidator(ParameterValidator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._validators: dict[tuple[str, str], Any] = {}

    def validate_parameter(self, parameter_type, value, param, param_name=None):  # type: ignore[override]
        if value is None:
            if param.get("required"):
                return f"Missing {parameter_type} parameter '{param['name']}'."
            return None
        key = (parameter_type, param["name"])
        validator = self._validators.get(key)
        if validator is None:
            validator = SpecValidator(param.get("schema", param))
            self._validators[key] = validator
        error = best_match(validator.iter_errors(value))
        if error is None:
            return None
        return f"Invalid {parameter_type} parameter '{param['name']}': {_rule_broken(error)}."

    def validate_query_parameter(self, param, request):  # type: ignore[override]
        # Connexion keeps the last of repeated values and has already converted the one it
        # kept: judge the query string as sent.
        sent = QueryParams(request.scope["query_string"]).getlist(param["name"])
        if len(sent) > 1:
            return f"Invalid query parameter '{param['name']}': must be given at most once."
        schema = param.get("schema", param)
        if sent and schema.get("type") == "integer" and not _INTEGER.fullmatch(sent[0]):
            return f"Invalid query parameter '{param['name']}': must be of type integer."
        return super().validate_query_parameter(param, request)
