"""slm_help: the tool through which the orchestrator delegates to the specialist.

It returns what the orchestrator needs to decide, not everything: the
specialist's answer and, when it sampled several solutions, the vote ("393 (4
of 4 samples agree)"). The worked solution comes only when asked (`show_work`)
or when the samples disagree: every token of it is input the orchestrator
pays for on each later turn. With `stop_at` set, an answer the samples agree on
at that share or more ends the run without another orchestrator turn.
"""

from __future__ import annotations

from math_router.engine.answers import escalates, normalize, vote
from math_router.engine.errors import ToolError
from math_router.engine.progress import say, say_solved
from math_router.engine.trace import ModelAnswer
from math_router.specialists.base import SamplingParams, Specialist
from math_router.tools.base import Tool, ToolOutput


def slm_help_tool(specialist: Specialist, sampling: SamplingParams | None = None,
                  stop_at: float | None = None) -> Tool:
    """The `slm_help` tool, forwarding to `specialist`.

    `sampling` with k > 1 asks for k solutions and reports their vote;
    `stop_at` lets an agreed answer (agreement >= stop_at) end the run.
    """

    def slm_help(question: str, show_work: bool = False) -> ToolOutput:
        """Ask a math specialist to solve a problem; it returns its final answer.

        Args:
            question: The complete problem, with every number it needs.
            show_work: Also return its worked solution.
        """
        if not question.strip():
            raise ToolError("the question is empty; send the whole problem")
        say(f"specialist {specialist.name}: "
            + (f"sampling {sampling.k}..." if sampling is not None and sampling.k > 1 else "solving..."))
        if sampling is not None and sampling.k > 1:
            samples = specialist.sample(question, sampling)
            results, usage, seconds = samples.results, samples.usage, samples.seconds
        else:
            result = specialist.solve(question)
            say_solved(result)
            results, usage, seconds = [result], result.usage, result.seconds
        answers = [r.answer for r in results]
        candidates = vote(answers)
        top, votes = (candidates[0]["normalized"], candidates[0]["count"]) if candidates else (None, 0)
        chosen = next((r for r in results if r.answer is not None and normalize(r.answer) == top),
                      results[0])
        k = len(results)
        agreement = votes / k if k else 0.0
        if chosen.answer is None:
            content = "Answer: (none stated)"
        else:
            content = f"Answer: {chosen.answer}"
            if k > 1:
                content += f" ({votes} of {k} samples agree)"
        disagree = k > 1 and votes < k
        if show_work or disagree or chosen.answer is None:
            content += f"\n\nWorked solution:\n{chosen.text.strip()}"
        if disagree:
            others = sorted({a for a in answers if a is not None and normalize(a) != top})
            if others:
                content += f"\n\nOther samples' answers: {', '.join(others)}"
        final = chosen.answer if (stop_at is not None
                                  and not escalates(agreement, chosen.answer, stop_at)) else None
        details = {"seconds": seconds, "agreement": agreement, "samples": k,
                   **{key: value for key, value in chosen.details.items() if key != "seconds"}}
        return ToolOutput(content=content, usage={"specialist": usage}, details=details,
                          final=final, model=ModelAnswer(specialist.name, specialist.local,
                                                         chosen.answer, chosen.device))

    return Tool.from_function(slm_help)
