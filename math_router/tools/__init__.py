"""The pluggable tool protocol: a tool is one decorated function.

    base.py  Tool, @tool, ToolOutput, ToolRegistry
    slm.py   slm_help: the tool that forwards to a Specialist
"""

from math_router.tools.base import Tool, ToolOutput, ToolRegistry, ToolResult, tool

__all__ = ["Tool", "ToolOutput", "ToolRegistry", "ToolResult", "tool"]
