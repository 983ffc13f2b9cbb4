"""The pluggable tool protocol: a tool is one decorated function.

    base.py  Tool, @tool, ToolOutput, ToolRegistry
    slm.py   slm_help: the tool that forwards to a Specialist
    python.py  python: the sandboxed executor as a tool
    extra.py   the user's own tools: register_tool, --tool MODULE:FUNCTION, entry points
    specialist.py  a specialist model as a tool: specialist_tool(name, model, ...)
"""

from math_router.tools.base import Tool, ToolOutput, ToolRegistry, ToolResult, tool

__all__ = ["Tool", "ToolOutput", "ToolRegistry", "ToolResult", "tool"]
