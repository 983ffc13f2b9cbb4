"""Each method is declared once (evals.methods.DECLARED); what it records follows from that."""

from math_router.evals.methods import DECLARED, METHODS, NEEDS
from math_router.factory import build_setup, method_settings
from math_router.options import ModelOptions


def test_each_method_records_its_own_settings_and_no_others():
    # Nothing is called: an API orchestrator and a specialist server are only named here.
    options = ModelOptions(model="gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key="sk-x",
                           specialist="http://127.0.0.1:9/v1", specialist_model="m",
                           router_samples=4, cache=False)
    # The probe needs a probe.json fitted on a GGUF: tests/test_probe.py checks its settings.
    names = [name for name in METHODS if name != "probe"]
    setup = build_setup(names, options)
    settings = {name: method_settings(name, setup) for name in names}
    assert settings["router"]["router_samples"] == 4 and settings["router"]["sampling"]["k"] == 4
    assert settings["cascade"]["sampling"]["k"] == options.sampling.k
    assert settings["cascade"]["escalates"] is True and "router_samples" not in settings["cascade"]
    assert "sampling" not in settings["llm"] and "sampling" not in settings["slm"]
    # Only the methods whose orchestrator is offered slm_help record tools and their schemas.
    for name in names:
        declared = DECLARED[name]
        assert ("tools" in settings[name]) == declared.delegates, name
        assert ("tools" in settings[name]["prompts"]) == declared.delegates, name
        assert ("orchestrator_system" in settings[name]["prompts"]) == (declared.system is not None)
        assert ("specialist" in settings[name]) == ("specialist" in NEEDS[name]), name


def test_the_decoder_holds_every_sample_of_every_request_answered_at_once():
    from math_router.factory import CPU_CONCURRENCY, MAX_SEQUENCES, decoder_settings

    options = ModelOptions()  # the cascade's k = 4
    assert decoder_settings(options)["n_seq_max"] == CPU_CONCURRENCY * 4
    assert decoder_settings(options, concurrency=64)["n_seq_max"] == 256
    assert decoder_settings(options, concurrency=10_000)["n_seq_max"] == MAX_SEQUENCES
    one = ModelOptions(sampling=ModelOptions().sampling.__class__(k=1))
    assert decoder_settings(one, concurrency=64)["n_seq_max"] == 64
    # Never fewer than one request's samples.
    many = ModelOptions(router_samples=16)
    assert decoder_settings(many, concurrency=1)["n_seq_max"] == 16


def test_the_default_concurrency_asks_llama_cpp_only_for_a_gguf_in_play():
    from math_router.factory import CPU_CONCURRENCY, GPU_CONCURRENCY, default_concurrency
    from math_router.llama.runtime import gpu_offload_supported

    api_only = ModelOptions(specialist="http://127.0.0.1:9/v1")
    assert default_concurrency(api_only, ["router"]) == CPU_CONCURRENCY
    assert default_concurrency(ModelOptions(), ["llm"]) == CPU_CONCURRENCY
    assert default_concurrency(ModelOptions(gpu_layers=0), ["slm"]) == CPU_CONCURRENCY
    expected = GPU_CONCURRENCY if gpu_offload_supported() else CPU_CONCURRENCY
    assert default_concurrency(ModelOptions(), ["slm"]) == expected
