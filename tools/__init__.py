"""The pluggable tool protocol: a tool is one decorated function."""

from tools.base import Tool, ToolOutput, ToolRegistry, ToolResult, tool

__all__ = ["Tool", "ToolOutput", "ToolRegistry", "ToolResult", "tool"]
