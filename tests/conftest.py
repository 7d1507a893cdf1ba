import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))  # shared test helpers


@pytest.fixture
def server():
    """A local scripted OpenAI-compatible chat server (see fake_llm_server.py)."""
    from fake_llm_server import FakeLLMServer

    with FakeLLMServer() as s:
        yield s


@pytest.fixture(scope="session")
def tiny_decoder_rm(tmp_path_factory):
    from tiny_models import build_decoder_rm

    return build_decoder_rm(tmp_path_factory.mktemp("decoder_rm"))


@pytest.fixture(scope="session")
def tiny_decoder_rm_no_template(tmp_path_factory):
    from tiny_models import build_decoder_rm

    return build_decoder_rm(tmp_path_factory.mktemp("decoder_rm_plain"), chat_template=False)


@pytest.fixture(scope="session")
def tiny_multi_objective_rm(tmp_path_factory):
    """Three outputs named helpfulness, correctness, verbosity (tiny_models.OBJECTIVES)."""
    from tiny_models import build_multi_objective_rm

    return build_multi_objective_rm(tmp_path_factory.mktemp("multi_objective_rm"))


@pytest.fixture(scope="session")
def tiny_encoder_rm(tmp_path_factory):
    from tiny_models import build_encoder_rm

    return build_encoder_rm(tmp_path_factory.mktemp("encoder_rm"))


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory):
    from tiny_models import build_causal_lm

    return build_causal_lm(tmp_path_factory.mktemp("causal_lm"))
