"""Tool schemas derived from functions, and the registry's answers to a model's mistakes."""

from __future__ import annotations

from typing import Literal, Optional

import pytest

from math_router.engine.errors import ToolError, TransportError, UserError
from math_router.tools.base import Tool, ToolOutput, ToolRegistry, tool
from math_router.engine.trace import Usage


def convert(amount: float, unit: Literal["cm", "m"], digits: int = 2, exact: bool = False,
            values: list[int] | None = None, note: Optional[str] = None) -> str:
    """Convert a length.

    Longer explanation that the model does not need.

    Args:
        amount: How much, in the given unit.
        unit (str): The unit to convert from.
        digits: Digits after the point,
            at most 6.

    Returns:
        The converted length.
    """
    return f"{amount} {unit} {digits} {exact} {values} {note}"


def test_schema_from_several_parameter_types():
    t = Tool.from_function(convert)
    assert t.name == "convert"
    assert t.description == "Convert a length. Longer explanation that the model does not need."
    props = t.parameters["properties"]
    assert props["amount"] == {"type": "number", "description": "How much, in the given unit."}
    assert props["unit"] == {"enum": ["cm", "m"], "description": "The unit to convert from."}
    assert props["digits"] == {"type": "integer", "default": 2,
                               "description": "Digits after the point, at most 6."}
    assert props["exact"] == {"type": "boolean", "default": False}
    assert props["values"] == {"anyOf": [{"type": "array", "items": {"type": "integer"}},
                                         {"type": "null"}], "default": None}
    assert props["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert t.parameters["required"] == ["amount", "unit"]
    assert t.parameters["additionalProperties"] is False
    assert t.schema()["type"] == "function"
    assert t.schema()["function"]["name"] == "convert"


def test_decorator_with_a_name():
    @tool(name="sum_two")
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    assert isinstance(add, Tool) and add.name == "sum_two"
    assert ToolRegistry([add]).call("sum_two", '{"a": 2, "b": 3}').content == "5"


def test_functions_without_a_schema_are_refused():
    def variadic(*numbers: int) -> int:
        return sum(numbers)

    def odd(x: set) -> None:
        pass

    with pytest.raises(UserError):
        Tool.from_function(variadic)
    with pytest.raises(UserError):
        Tool.from_function(odd)


def test_duplicate_names_are_refused():
    registry = ToolRegistry([Tool.from_function(convert)])
    with pytest.raises(UserError, match="already registered"):
        registry.register(Tool.from_function(convert))


@pytest.mark.parametrize("arguments, expected", [
    ('{"amount": "ten", "unit": "cm"}', "Error: arguments do not fit the schema at amount: 'ten' is not of type 'number'"),
    ('{"amount": 1}', "Error: arguments do not fit the schema: 'unit' is a required property"),
    ('{"amount": 1, "unit": "km"}', "Error: arguments do not fit the schema at unit: 'km' is not one of ['cm', 'm']"),
    ('{"amount": 1, "unit": "m", "colour": "red"}', "Error: arguments do not fit the schema: Additional properties are not allowed ('colour' was unexpected)"),
    ('[1, 2]', "Error: arguments do not fit the schema: [1, 2] is not of type 'object'"),
    ('{"amount": 1, "unit": "m"', "Error: arguments are not valid JSON"),
])
def test_the_models_mistakes_come_back_as_errors(arguments, expected):
    result = ToolRegistry([Tool.from_function(convert)]).call("convert", arguments)
    assert result.is_error
    assert result.content.startswith(expected)


def test_valid_arguments_reach_the_function():
    result = ToolRegistry([Tool.from_function(convert)]).call(
        "convert", '{"amount": 2.5, "unit": "m", "values": [1, 2]}')
    assert not result.is_error
    assert result.content == "2.5 m 2 False [1, 2] None"


def test_exceptions_inside_a_tool_become_error_messages():
    @tool
    def broken(x: int) -> int:
        """Divide by zero."""
        return x // 0

    @tool
    def picky(x: int) -> int:
        """Refuse."""
        raise ToolError("x must be positive")

    registry = ToolRegistry([broken, picky])
    assert registry.call("broken", '{"x": 1}').content == "Error: ZeroDivisionError: integer division or modulo by zero"
    assert registry.call("picky", '{"x": 1}').content == "Error: x must be positive"


def test_transport_failures_inside_a_tool_are_not_the_models_to_fix():
    @tool
    def remote(x: int) -> int:
        """Call a server."""
        raise TransportError("cannot reach http://127.0.0.1:9/v1")

    with pytest.raises(TransportError):
        ToolRegistry([remote]).call("remote", '{"x": 1}')


def test_tool_output_carries_usage_and_details():
    @tool
    def ask(question: str) -> ToolOutput:
        """Ask."""
        return ToolOutput("42", usage={"specialist": Usage(3, 4, 1)}, details={"model": "m"})

    result = ToolRegistry([ask]).call("ask", '{"question": "?"}')
    assert result.content == "42"
    assert result.usage == {"specialist": Usage(3, 4, 1)}
    assert result.details == {"model": "m"}
    assert result.seconds >= 0


def test_non_string_results_are_json():
    @tool
    def pair() -> dict:
        """A pair."""
        return {"a": 1}

    assert ToolRegistry([pair]).call("pair", "").content == '{"a": 1}'
