"""Exception types, split by whose mistake it is.

`UserError` and its children end a command with one line on stderr; a
`ToolError` is the model's problem and goes back to it as a tool message.
"""


class UserError(Exception):
    """Something the user can fix: a missing key, file, flag or data set."""


class TransportError(UserError):
    """A model endpoint failed after the client's own retries.

    `systemic` failures (unreachable server, refused key) will fail every
    question alike, so an eval stops on them instead of recording each.
    """

    def __init__(self, message: str, systemic: bool = False):
        super().__init__(message)
        self.systemic = systemic


class BudgetReached(UserError):
    """A --max-cost or --max-time budget stopped a job from starting more problems; what
    finished is kept, and the same command with a larger budget goes on (exit status 3)."""


class InputTooLong(Exception):
    """A prompt longer than the model's context: that question fails, the run goes on."""


class ParameterRefused(TransportError):
    """The server refused one request parameter (HTTP 400 naming it): a reasoning model and
    `temperature`, say. The request may succeed without it."""

    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


class ToolsRefusedAtEffort(TransportError):
    """The server takes function tools only at another reasoning effort (gpt-6-luna in Chat
    Completions: only at "none"). Every tool turn would fail alike."""

    def __init__(self, message: str):
        super().__init__(message, systemic=True)


class ToolError(Exception):
    """A tool refuses its input; the message goes back to the model."""


class UnusableText(Exception):
    """Text that cannot travel as UTF-8 (a lone surrogate from "\\ud800" in JSON, undecodable
    bytes in argv): that question fails, with the place named; the run goes on."""


def check_text(text: str, what: str) -> str:
    """`text` when every character of it can be sent; else UnusableText naming where."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UnusableText(f"{what} is not valid Unicode: {e.reason} at character {e.start + 1} "
                           f"(a lone surrogate such as \\u{ord(text[e.start]):04x}, or bytes "
                           f"that are not UTF-8)") from None
    return text


# What ends a command in one line: the user's mistakes, and a question too long for its model
# or not valid Unicode (an error of that one problem in an eval, so not a UserError, which
# would stop the run).
ONE_LINE = (UserError, InputTooLong, UnusableText)
