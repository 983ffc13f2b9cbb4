"""Each method is declared once (evals.methods.DECLARED); what it records follows from that."""

from math_router.evals.methods import DECLARED, METHODS, NEEDS
from math_router.factory import build_setup, method_settings
from math_router.options import ModelOptions


def test_each_method_records_its_own_settings_and_no_others():
    # Nothing is called: an API orchestrator and a specialist server are only named here.
    options = ModelOptions(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key="sk-x",
                           specialist="http://127.0.0.1:9/v1", specialist_model="m",
                           router_samples=4, cache=False)
    setup = build_setup(list(METHODS), options)
    settings = {name: method_settings(name, setup) for name in METHODS}
    assert settings["router"]["router_samples"] == 4 and settings["router"]["sampling"]["k"] == 4
    assert settings["cascade"]["sampling"]["k"] == options.sampling.k
    assert settings["cascade"]["escalates"] is True and "router_samples" not in settings["cascade"]
    assert "sampling" not in settings["llm"] and "sampling" not in settings["slm"]
    # Only the methods whose orchestrator is offered slm_help record tools and their schemas.
    for name, declared in DECLARED.items():
        assert ("tools" in settings[name]) == declared.delegates, name
        assert ("tools" in settings[name]["prompts"]) == declared.delegates, name
        assert ("orchestrator_system" in settings[name]["prompts"]) == (declared.system is not None)
        assert ("specialist" in settings[name]) == ("specialist" in NEEDS[name]), name
